"""Card validation: number, CVC per brand, expiry and its time zone rule, accepted networks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paygate_cardnetworks import complete_pan, generate_pan, network
from paygate_cardnetworks.validation import CardCheck, check_card, expires_at

from paygate.errors import ErrorCode, InvalidRequest

SEED_FOUR = ("visa", "mastercard", "discover", "amex")
ALL_BRANDS = ("visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "maestro")
NOW = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


def check(
    number: str = "4242424242424242",
    exp_month: int = 12,
    exp_year: int = 2030,
    cvc: str | None = "123",
    *,
    now: datetime = NOW,
    accepted: tuple[str, ...] = SEED_FOUR,
    require_cvc: bool = False,
) -> CardCheck:
    return check_card(
        number=number,
        exp_month=exp_month,
        exp_year=exp_year,
        cvc=cvc,
        now=now,
        accepted=accepted,
        require_cvc=require_cvc,
    )


def only(result: CardCheck) -> InvalidRequest:
    assert len(result.errors) == 1, [e.to_dict() for e in result.errors]
    return result.errors[0]


# -- the number ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "brand", "cvc"),
    [
        ("4242424242424242", "visa", "123"),
        ("5555555555554444", "mastercard", "123"),
        ("2223003122003222", "mastercard", "123"),
        ("378282246310005", "amex", "1234"),
        ("6011111111111117", "discover", "123"),
        ("4242 4242 4242 4242", "visa", "123"),
        ("4242-4242-4242-4242", "visa", "123"),
    ],
)
def test_seed_four_are_accepted_by_default(number: str, brand: str, cvc: str) -> None:
    result = check(number, cvc=cvc)
    assert result.errors == []
    assert result.brand == brand


def test_jcb_is_refused_by_default_naming_the_accepted_networks() -> None:
    pan = complete_pan("3530", 16)
    error = only(check(pan))
    assert error.code is ErrorCode.UNSUPPORTED_BRAND
    assert error.param == "number"
    assert error.message == (
        "JCB cards are not accepted. Use a Visa, Mastercard, Discover or American Express card."
    )
    assert pan not in error.message


def test_a_host_can_accept_jcb() -> None:
    result = check(complete_pan("3530", 16), accepted=(*SEED_FOUR, "jcb"))
    assert result.errors == []
    assert result.brand == "jcb"


def test_a_host_can_narrow_to_fewer_networks() -> None:
    error = only(check("378282246310005", cvc="1234", accepted=("visa", "mastercard")))
    assert error.code is ErrorCode.UNSUPPORTED_BRAND
    assert error.message.endswith("Use a Visa or Mastercard card.")


@pytest.mark.parametrize(
    ("number", "code", "fragment"),
    [
        ("", ErrorCode.INVALID_NUMBER, "Enter your card number"),
        ("   ", ErrorCode.INVALID_NUMBER, "Enter your card number"),
        ("4242.4242.4242.4242", ErrorCode.INVALID_NUMBER, "only contain digits"),
        ("4242424242424242x", ErrorCode.INVALID_NUMBER, "only contain digits"),
        ("１２３４", ErrorCode.INVALID_NUMBER, "only contain digits"),
        (complete_pan("99", 16), ErrorCode.INVALID_NUMBER, "network we know"),
        (complete_pan("4", 15), ErrorCode.INVALID_NUMBER, "A Visa card number has 13, 16 or 19"),
        (
            complete_pan("37", 16),
            ErrorCode.INVALID_NUMBER,
            "An American Express card number has",
        ),
        (complete_pan("62", 15), ErrorCode.INVALID_NUMBER, "has 16 to 19 digits"),
        ("424242424242", ErrorCode.INVALID_NUMBER, "A Visa card number"),
        ("4242424242424241", ErrorCode.INCORRECT_NUMBER, "Your card number is incorrect."),
    ],
)
def test_bad_numbers(number: str, code: ErrorCode, fragment: str) -> None:
    error = only(check(number, cvc=None, accepted=ALL_BRANDS))
    assert error.code is code
    assert error.param == "number"
    assert fragment in error.message


@pytest.mark.parametrize("brand", ALL_BRANDS)
@given(rng=st.randoms(use_true_random=False))
def test_generated_pans_pass_when_their_network_is_accepted(brand: str, rng: random.Random) -> None:
    pan = generate_pan(brand, rng)
    cvc = "7" * network(brand).cvc_length
    result = check(pan, cvc=cvc, accepted=ALL_BRANDS)
    assert result.errors == []
    assert result.brand == brand


# -- the CVC -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "good", "bad", "message"),
    [
        (
            "378282246310005",
            "1234",
            "123",
            "The security code of an American Express card has 4 digits.",
        ),
        ("4242424242424242", "123", "1234", "The security code of a Visa card has 3 digits."),
        ("5555555555554444", "123", "12", "The security code of a Mastercard card has 3 digits."),
        ("6011111111111117", "123", "1234", "The security code of a Discover card has 3 digits."),
    ],
)
def test_cvc_length_per_brand(number: str, good: str, bad: str, message: str) -> None:
    assert check(number, cvc=good).errors == []
    error = only(check(number, cvc=bad))
    assert error.code is ErrorCode.INVALID_CVC
    assert error.param == "cvc"
    assert error.message == message


@pytest.mark.parametrize("brand", ["jcb", "diners", "unionpay", "maestro"])
def test_cvc_is_three_digits_for_the_other_networks(brand: str) -> None:
    pan = generate_pan(brand, random.Random(7))
    assert check(pan, cvc="123", accepted=ALL_BRANDS).errors == []
    assert only(check(pan, cvc="1234", accepted=ALL_BRANDS)).code is ErrorCode.INVALID_CVC


@pytest.mark.parametrize("cvc", ["12a", "1 3", "١٢٣", "-12"])
def test_cvc_must_be_ascii_digits(cvc: str) -> None:
    error = only(check(cvc=cvc))
    assert error.code is ErrorCode.INVALID_CVC
    assert cvc not in error.message


def test_cvc_of_an_unknown_brand_is_3_or_4_digits() -> None:
    result = check(complete_pan("99", 16), cvc="12")
    assert [e.param for e in result.errors] == ["number", "cvc"]
    assert result.errors[1].message == "The security code has 3 or 4 digits."
    assert [e.param for e in check(complete_pan("99", 16), cvc="1234").errors] == ["number"]


def test_missing_cvc_is_allowed_unless_required() -> None:
    assert check(cvc=None).errors == []
    assert check(cvc="").errors == []
    error = only(check(cvc=None, require_cvc=True))
    assert (error.code, error.param) == (ErrorCode.INVALID_CVC, "cvc")


# -- expiry --------------------------------------------------------------------


@pytest.mark.parametrize("month", [0, 13, -1])
def test_expiry_month_is_1_to_12(month: int) -> None:
    error = only(check(exp_month=month))
    assert (error.code, error.param) == (ErrorCode.INVALID_EXPIRY_DATE, "exp_month")


@pytest.mark.parametrize(("year", "fragment"), [(30, "four digits"), (2077, "too far")])
def test_expiry_year_must_be_plausible(year: int, fragment: str) -> None:
    error = only(check(exp_year=year))
    assert (error.code, error.param) == (ErrorCode.INVALID_EXPIRY_DATE, "exp_year")
    assert fragment in error.message


def test_expires_at_is_the_end_of_the_month_in_utc_minus_12() -> None:
    assert expires_at(11, 2026) == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert expires_at(12, 2026) == datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    assert expires_at(2, 2028) == datetime(2028, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "valid"),
    [
        (datetime(2026, 11, 1, 0, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), True),
        # already 1 December in UTC, and in UTC+14 since 10:00 on 30 November,
        # but still 30 November in UTC-12: a holder there may still pay.
        (datetime(2026, 12, 1, 11, 59, 59, 999999, tzinfo=UTC), True),
        (datetime(2026, 12, 1, 12, 0, tzinfo=UTC), False),
        (datetime(2027, 3, 1, tzinfo=UTC), False),
    ],
)
def test_card_is_valid_through_the_last_day_of_its_month(now: datetime, valid: bool) -> None:
    result = check(exp_month=11, exp_year=2026, now=now)
    if valid:
        assert result.errors == []
    else:
        error = only(result)
        assert error.code is ErrorCode.EXPIRED_CARD
        assert error.message == "Your card has expired."


def test_year_boundary() -> None:
    before = datetime(2027, 1, 1, 11, 59, 59, tzinfo=UTC)
    after = datetime(2027, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert check(exp_month=12, exp_year=2026, now=before).errors == []
    error = only(check(exp_month=12, exp_year=2026, now=after))
    assert (error.code, error.param) == (ErrorCode.EXPIRED_CARD, "exp_year")
    # January of the new year is fine on New Year's Eve and after.
    assert check(exp_month=1, exp_year=2027, now=datetime(2026, 12, 31, tzinfo=UTC)).errors == []
    assert check(exp_month=1, exp_year=2027, now=after).errors == []


def test_an_expired_month_of_this_year_points_at_the_month() -> None:
    error = only(check(exp_month=10, exp_year=2026))
    assert (error.code, error.param) == (ErrorCode.EXPIRED_CARD, "exp_month")
    error = only(check(exp_month=12, exp_year=2025))
    assert error.param == "exp_year"


def test_now_in_another_time_zone_or_naive_means_the_same_instant() -> None:
    # 20:59 on 1 December in Tokyo is 11:59 UTC: still November in UTC-12.
    tokyo = datetime(2026, 12, 1, 20, 59, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert check(exp_month=11, exp_year=2026, now=tokyo).errors == []
    late = tokyo + timedelta(hours=12)
    assert only(check(exp_month=11, exp_year=2026, now=late)).code is ErrorCode.EXPIRED_CARD
    naive = datetime(2026, 12, 1, 11, 0)
    assert check(exp_month=11, exp_year=2026, now=naive).errors == []


# -- all problems together, and no secrets in them -------------------------------


def test_problems_come_in_form_order_one_per_field() -> None:
    result = check("4242424242424241", exp_month=13, cvc="12")
    assert [(e.param, e.code) for e in result.errors] == [
        ("number", ErrorCode.INCORRECT_NUMBER),
        ("exp_month", ErrorCode.INVALID_EXPIRY_DATE),
        ("cvc", ErrorCode.INVALID_CVC),
    ]


@given(rng=st.randoms(use_true_random=False), data=st.data())
def test_messages_never_contain_the_number_or_cvc(rng: random.Random, data: st.DataObject) -> None:
    brand = data.draw(st.sampled_from(ALL_BRANDS))
    pan = generate_pan(brand, rng)
    if data.draw(st.booleans()):
        pan = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    cvc = data.draw(st.text("0123456789", min_size=1, max_size=6))
    result = check(pan, exp_month=data.draw(st.integers(-2, 14)), cvc=cvc)
    for error in result.errors:
        text = f"{error.message} {error!r} {error.to_dict()}"
        assert pan not in text
        assert pan[-8:] not in text
        if len(cvc) >= 3:
            assert cvc not in text
