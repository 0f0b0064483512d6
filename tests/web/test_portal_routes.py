"""The billing portal's pages and refusals, through Starlette's TestClient."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from web_helpers import (
    MASTERCARD,
    MEMBER,
    OWNER,
    SECRET,
    STAFF,
    SUB_OWNER,
    Site,
    a11y_problems,
    form_fields,
    text_of,
)

from paygate.web.security import Csrf


def confirm_fields(site: Site, query: str) -> dict[str, str]:
    page = site.get(f"/preview?{query}")
    assert page.status_code == 200, page.text
    return form_fields(page.text, "/confirm")


def test_details_show_everything_the_seed_lists(site: Site) -> None:
    page = site.get("/")
    assert page.status_code == 200
    text = text_of(page.text)
    # the plan the fixture bought, its size, schedule and price (USD 30 a month)
    assert "Plan Webinar 25 attendees" in text
    assert "Plan size 25 attendees" in text
    assert "Payment schedule Monthly" in text
    assert "Price $30.00" in text
    # subscribed on Jan 31 in Paris: the month-end anchor renews on Feb 28
    assert "Renewal date February 28, 2027" in text
    assert "Next charge" in text and "Total $30.00" in text
    assert "•••• 4242" in text
    assert "No add-ons." in text
    assert "Status active" in text


def test_free_minutes_balance_counts_usage(site: Site) -> None:
    fields = confirm_fields(site, "kind=add_addon&addon=toll-free&quantity=1")
    assert site.post("/confirm", fields).status_code == 303
    site.billing.record_usage(
        STAFF, site.subscription, event_id="calls-1", metric="minutes", quantity=37
    )
    text = text_of(site.get("/").text)
    assert "Free minutes balance 63 of 100 left" in text
    assert "Toll-free number × 1" in text


def test_anonymous_gets_the_sign_in_page(site: Site) -> None:
    page = site.get("/", user=None)
    assert page.status_code == 401
    assert "Please sign in" in page.text
    assert "Visa" not in page.text


@pytest.mark.parametrize("who", [MEMBER, SUB_OWNER])
@pytest.mark.parametrize("path", ["/", "/plan", "/card", "/addons", "/invoices"])
def test_multi_users_and_sub_accounts_get_403_saying_who_can(
    site: Site, who: object, path: str
) -> None:
    page = site.get(path, user=who)  # type: ignore[arg-type]
    assert page.status_code == 403
    text = text_of(page.text)
    assert "Only the owner of the main account, owner@example.org, can" in text
    assert "Visa" not in text and "$30.00" not in text


def test_a_multi_users_post_is_refused_and_changes_nothing(site: Site) -> None:
    owner_fields = confirm_fields(site, "kind=change_plan&plan=webinar/s100")
    before = site.charges()
    # the owner's form posted by the member: the token is bound to the owner
    assert site.post("/confirm", owner_fields, user=MEMBER).status_code == 403
    # a token that is valid for the member (made with the host's secret for the
    # member and this browser's cookie): now billing itself refuses
    member_fields = dict(owner_fields)
    member_fields["csrf_token"] = Csrf(SECRET).token(
        site.client.cookies["paygate_csrf"], MEMBER.ref
    )
    member_fields["idempotency_key"] = "member-key-0123456789"
    refused = site.post("/confirm", member_fields, user=MEMBER)
    assert refused.status_code == 403
    assert "Only the owner of the main account, owner@example.org" in text_of(refused.text)
    assert site.charges() == before
    assert site.billing.subscription(OWNER, site.subscription).offer == "webinar/s25"


def test_upgrade_shows_the_preview_then_charges_once(site: Site) -> None:
    page = site.get("/preview?kind=change_plan&plan=webinar/s100")
    text = text_of(page.text)
    assert "Charged now" in text
    fields = form_fields(page.text, "/confirm")
    assert fields["fingerprint"] and fields["plan"] == "webinar/s100"
    before = site.charges()
    done = site.post("/confirm", fields)
    assert done.status_code == 303
    assert done.headers["location"].endswith("/?done=done")
    assert site.charges() == before + 1
    assert "Plan size 100 attendees" in text_of(site.get("/").text)


def test_a_double_clicked_confirm_charges_once(site: Site) -> None:
    fields = confirm_fields(site, "kind=change_plan&plan=webinar/s500")
    before = site.charges()
    first = site.post("/confirm", fields)
    second = site.post("/confirm", fields)
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert site.charges() == before + 1


def test_a_stale_preview_is_refused_with_the_new_one(site: Site) -> None:
    fields = confirm_fields(site, "kind=change_plan&plan=webinar/s100")
    site.clock.now += timedelta(days=5)  # fewer days left: the proration changed
    before = site.charges()
    page = site.post("/confirm", fields)
    assert page.status_code == 409
    assert "Here is the new preview" in page.text
    fresh = form_fields(page.text, "/confirm")
    assert fresh["fingerprint"] != fields["fingerprint"]
    assert site.charges() == before
    assert site.billing.subscription(OWNER, site.subscription).offer == "webinar/s25"
    # the new preview, confirmed, goes through
    assert site.post("/confirm", fresh).status_code == 303
    assert site.charges() == before + 1


def test_switch_to_annual_is_scheduled_for_the_period_end(site: Site) -> None:
    page = site.get("/preview?kind=change_plan&cycle=annual")
    assert "Applies on February 28, 2027" in text_of(page.text)
    before = site.charges()
    assert site.post("/confirm", form_fields(page.text, "/confirm")).status_code == 303
    assert site.charges() == before
    assert site.billing.subscription(OWNER, site.subscription).pending["cycle"] == "annual"


@pytest.mark.parametrize(
    ("drop", "value"), [("csrf_token", None), ("csrf_token", "0" * 64), ("idempotency_key", None)]
)
def test_posts_without_a_valid_csrf_token_or_key_are_refused(
    site: Site, drop: str, value: str | None
) -> None:
    fields = confirm_fields(site, "kind=change_plan&plan=webinar/s100")
    if value is None:
        fields.pop(drop)
    else:
        fields[drop] = value
    before = site.charges()
    page = site.post("/confirm", fields)
    assert page.status_code in (400, 403)
    assert "This form expired" in page.text
    assert site.charges() == before


def test_a_token_from_another_browser_is_refused(site: Site) -> None:
    fields = confirm_fields(site, "kind=change_plan&plan=webinar/s100")
    site.client.cookies.clear()  # a cross-site post: no cookie of ours
    site.get("/")  # a fresh cookie, not the one the token was made for
    assert site.post("/confirm", fields).status_code == 403


def test_add_card_never_echoes_the_number(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fields = form_fields(site.get("/card").text, "/card")
    fields.update(number=MASTERCARD, exp_month="11", exp_year="2032", cvc="987", holder="Ann")
    done = site.post("/card", fields)
    assert done.status_code == 303
    after = site.get(done.headers["location"])
    assert "The card was added." in after.text
    assert "•••• 4444" in text_of(after.text)
    for text in (done.text, after.text, caplog.text, str(done.headers), str(after.headers)):
        assert MASTERCARD not in text and "987" not in text.replace("0987", "")


def test_a_refused_card_shows_an_empty_form(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    declined = "4000000000000002"
    fields = form_fields(site.get("/card").text, "/card")
    fields.update(number=declined, exp_month="11", exp_year="2032", cvc="321")
    page = site.post("/card", fields)
    assert page.status_code == 402
    assert "The card was refused" in page.text
    assert declined not in page.text and 'value="321"' not in page.text
    assert declined not in caplog.text
    assert "•••• 4242" in text_of(site.get("/").text)


def test_buy_and_remove_an_add_on(site: Site) -> None:
    page = site.get("/addons")
    assert "Toll-free number" in page.text and "Cloud recording add-on" in page.text
    fields = confirm_fields(site, "kind=add_addon&addon=recording&quantity=2")
    before = site.charges()
    assert site.post("/confirm", fields).status_code == 303
    assert site.charges() == before + 1
    assert "Cloud recording add-on × 2" in text_of(site.get("/").text)
    item = next(
        i for i in site.billing.subscription(OWNER, site.subscription).items if i.kind != "plan"
    )
    removal = confirm_fields(site, f"kind=remove_addon&item={item.id}")
    assert site.post("/confirm", removal).status_code == 303
    assert "Applies on" in text_of(site.get("/addons").text)


def lifecycle(site: Site, what: str, **extra: str) -> int:
    fields = form_fields(site.get("/").text, f"/lifecycle/{what}")
    fields.update(extra)
    return int(site.post(f"/lifecycle/{what}", fields).status_code)


def test_freeze_unfreeze_cancel_reactivate(site: Site) -> None:
    assert lifecycle(site, "freeze", days="30") == 303
    text = text_of(site.get("/").text)
    assert "Status frozen" in text and "Frozen until March 2, 2027" in text
    assert lifecycle(site, "unfreeze") == 303
    assert "Status active" in text_of(site.get("/").text)
    assert lifecycle(site, "cancel") == 303
    text = text_of(site.get("/").text)
    assert "Cancels on February 28, 2027" in text and "Nothing will be charged." in text
    assert lifecycle(site, "reactivate") == 303
    assert "Status active" in text_of(site.get("/").text)


def test_a_freeze_past_the_policy_is_refused(site: Site) -> None:
    assert lifecycle(site, "freeze", days="365") == 400
    assert site.billing.subscription(OWNER, site.subscription).status == "active"


def test_an_unknown_action_is_404(site: Site) -> None:
    fields = form_fields(site.get("/").text, "/lifecycle/cancel")
    assert site.post("/lifecycle/delete-everything", fields).status_code == 404


def test_invoice_history_lists_the_invoices(site: Site) -> None:
    invoices = site.billing.invoices(OWNER, site.main)
    page = site.get("/invoices")
    assert page.status_code == 200
    for inv in invoices:
        assert f"{inv.series}-{inv.number:06d}" in page.text
    assert "$30.00" in page.text


def test_french_from_accept_language_and_switchable(site: Site) -> None:
    page = site.get("/", headers={"accept-language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in page.text
    text = text_of(page.text)
    assert "Détails de facturation" in text and "28 février 2027" in text
    assert "30,00 $US" in text
    # English explicitly, remembered by the cookie over the header
    site.get("/?lang=en", headers={"accept-language": "fr"})
    again = site.get("/", headers={"accept-language": "fr"})
    assert '<html lang="en">' in again.text
    assert "Renewal date" in again.text


def test_security_headers_on_every_page(site: Site) -> None:
    for path, user in [("/", OWNER), ("/card", OWNER), ("/", MEMBER), ("/", None)]:
        page = site.get(path, user=user)
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-content-type-options"] == "nosniff"
    site.client.cookies.clear()
    cookie = site.get("/").headers["set-cookie"].lower()
    assert "paygate_csrf=" in cookie and "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/plan",
        "/card",
        "/addons",
        "/invoices",
        "/preview?kind=change_plan&plan=webinar/s100",
    ],
)
def test_pages_have_labels_and_ordered_headings(site: Site, path: str) -> None:
    assert a11y_problems(site.get(path).text) == []


def test_an_open_dispute_is_shown_to_the_owner_in_both_languages(site: Site) -> None:
    assert "Open disputes" not in text_of(site.get("/").text)
    [inv] = site.billing.invoices(OWNER, site.main)
    assert inv.transaction_id is not None
    headers, body = site.payments.plugin("sandbox").make_webhook(
        "dispute.opened", inv.transaction_id
    )
    site.billing.on_webhook(site.payments.parse_webhook("sandbox", headers, body))
    text = text_of(site.get("/").text)
    assert "Open disputes" in text
    charged = site.payments.transaction(inv.transaction_id).amount
    assert f"for ${charged.amount}" in text
    french = text_of(site.get("/?lang=fr").text)
    assert "Litiges en cours" in french and "Ouvert le" in french
