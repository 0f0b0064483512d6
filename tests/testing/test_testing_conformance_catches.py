"""The conformance suite fails providers that break the contract.

Each broken provider below is the sandbox with one bug. The suite runs in a
child pytest (the way an author runs it) and must fail exactly the tests
about that bug.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

BROKEN = textwrap.dedent(
    '''
    import logging

    import paygate
    from paygate.builtins.sandbox import SIGNATURE_HEADER, SandboxProvider
    from paygate.models import Capabilities, ErrorInfo, ProviderInfo
    from paygate.operations import ProviderResult
    from paygate.testing.conformance import ProviderConformance


    def manifest(name, **caps):
        base = dict(partial_capture=True, multiple_captures=True, multiple_refunds=True,
                    verify=True, three_d_secure=True)
        base.update(caps)
        # The sandbox names itself in stored methods and webhook events, so a
        # renamed copy claims neither.
        return ProviderInfo(name=name, payment_methods=frozenset({"card"}),
                            capabilities=Capabilities(**base))


    class OddCodes(SandboxProvider):
        @paygate.hookimpl
        def paygate_provider_info(self):
            return manifest("oddcodes")

        @paygate.hookimpl
        def paygate_authorize(self, request):
            result = super().paygate_authorize(request)
            if result.error is not None and result.error.code == "insufficient_funds":
                return ProviderResult(status=result.status, error=ErrorInfo(
                    code="nsf", message="not enough money"))
            return result


    class Chatty(SandboxProvider):
        @paygate.hookimpl
        def paygate_provider_info(self):
            return manifest("chatty")

        @paygate.hookimpl
        def paygate_authorize(self, request):
            if request.method.kind == "card":
                logging.getLogger("chatty").info("paying with %s", request.method.digits)
            return super().paygate_authorize(request)


    class SameRefundId(SandboxProvider):
        @paygate.hookimpl
        def paygate_provider_info(self):
            return manifest("samerefund")

        @paygate.hookimpl
        def paygate_refund(self, request):
            result = super().paygate_refund(request)
            return result.model_copy(update={"operation_reference": "re_same"})


    class Overclaims(SandboxProvider):
        """Claims verify, does not implement void."""

        paygate_void = None

        @paygate.hookimpl
        def paygate_provider_info(self):
            return manifest("overclaims")


    class Modest(SandboxProvider):
        """Claims little: the core must refuse the rest without calling it."""

        @paygate.hookimpl
        def paygate_provider_info(self):
            return ProviderInfo(name="modest", capabilities=Capabilities(partial_refund=False))


    class Suite(ProviderConformance):
        # The sandbox and its copies run in-process: no wire; what reached
        # "the gateway" is the sandbox's own record of calls.
        waivers = {"wire": "in-process sandbox"}

        def sent_idempotency_keys(self, run):
            plugin = run.payments.plugin_manager.providers()[run.name][0]
            return [key for _hook, key, _tx in plugin.calls]

        def make_webhook(self, run, transaction, *, event_type="payment.captured", signed_at=None):
            plugin = run.payments.plugin_manager.providers()[run.name][0]
            headers, body = plugin.make_webhook(event_type, transaction.id)
            if signed_at is not None:
                headers[SIGNATURE_HEADER] = plugin.sign(body, timestamp=int(signed_at.timestamp()))
            return headers, body


    class TestOddCodes(Suite):
        provider = "oddcodes"
        def extra_plugins(self):
            return [OddCodes()]


    class TestChatty(Suite):
        provider = "chatty"
        def extra_plugins(self):
            return [Chatty()]


    class TestSameRefundId(Suite):
        provider = "samerefund"
        def extra_plugins(self):
            return [SameRefundId()]


    class TestOverclaims(Suite):
        provider = "overclaims"
        def extra_plugins(self):
            return [Overclaims()]


    class TestModest(Suite):
        provider = "modest"
        def extra_plugins(self):
            return [Modest()]


    class TestKeysNotOnTheWire(Suite):
        provider = "sandbox"
        def sent_idempotency_keys(self, run):
            return []


    class TestKeysUnobserved(ProviderConformance):
        """sent_idempotency_keys() -> None and no declared waiver."""
        provider = "sandbox"
        def sent_idempotency_keys(self, run):
            return None


    class TestNoDeclineCards(Suite):
        provider = "sandbox"
        def card(self, outcome="success"):
            return super().card(outcome) if outcome in ("success", "three_d_secure") else None


    class TestDeclinesWaived(TestNoDeclineCards):
        waivers = {
            "wire": "in-process sandbox",
            **{f"decline:{o}": f"no {o} test card here" for o in (
                "decline", "insufficient_funds", "expired_card", "incorrect_cvc",
                "processing_error")},
        }


    class TestNeedsCredentials(Suite):
        provider = "sandbox"
        requires_env = ("PAYGATE_CONFORMANCE_NEVER_SET",)
    '''
)


@pytest.fixture(scope="module")
def child_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    root = tmp_path_factory.mktemp("broken")
    (root / "test_broken_providers.py").write_text(BROKEN)
    report = root / "report.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            f"--junitxml={report}",
            "test_broken_providers.py",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.exists(), proc.stdout + proc.stderr
    found: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - our own report
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            found[name] = "failed"
        elif case.find("skipped") is not None:
            found[name] = "skipped: " + (case.find("skipped").get("message") or "")  # type: ignore[union-attr]
        else:
            found[name] = "passed"
    return found, proc.stdout


@pytest.fixture(scope="module")
def outcomes(child_run: tuple[dict[str, str], str]) -> dict[str, str]:
    return child_run[0]


def failed(outcomes: dict[str, str], cls: str) -> set[str]:
    return {
        n.split("::")[1] for n, o in outcomes.items() if n.startswith(cls + "::") and o == "failed"
    }


def test_nonstandard_decline_code_fails_only_that_decline(outcomes: dict[str, str]) -> None:
    assert failed(outcomes, "TestOddCodes") == {
        "test_decline_uses_a_standard_error_code[insufficient_funds]"
    }


def test_logged_card_number_fails_the_secrets_test(outcomes: dict[str, str]) -> None:
    assert failed(outcomes, "TestChatty") == {"test_no_secret_in_logs_results_or_ledger"}


def test_refunds_sharing_one_id_fail_multiple_refunds(outcomes: dict[str, str]) -> None:
    assert failed(outcomes, "TestSameRefundId") == {
        "test_multiple_refunds",
        "test_each_capture_and_refund_has_its_own_operation_reference",
    }


def test_claims_without_hooks_fail(outcomes: dict[str, str]) -> None:
    broken = failed(outcomes, "TestOverclaims")
    assert "test_claimed_capabilities_have_their_hooks" in broken
    assert {"test_verify", "test_void"} <= broken


def test_unclaimed_capabilities_are_refused_by_the_core(outcomes: dict[str, str]) -> None:
    assert failed(outcomes, "TestModest") == set()
    for test in (
        "test_partial_capture_refused_when_not_claimed",
        "test_multiple_captures_refused_when_not_claimed",
        "test_partial_refund_refused_when_not_claimed",
        "test_verify_refused_when_not_claimed",
        "test_store_payment_method_refused_when_not_claimed",
        "test_recurring_refused_when_not_claimed",
        "test_webhooks_refused_when_not_claimed",
    ):
        assert outcomes[f"TestModest::{test}"] == "passed", test


def test_idempotency_keys_missing_on_the_wire_fail(outcomes: dict[str, str]) -> None:
    assert failed(outcomes, "TestKeysNotOnTheWire") == {
        "test_idempotency_keys_reach_the_provider",
        "test_every_money_moving_operation_reaches_the_gateway",
    }


def test_keys_nobody_observes_fail_without_a_waiver(outcomes: dict[str, str]) -> None:
    assert "test_idempotency_keys_reach_the_provider" in failed(outcomes, "TestKeysUnobserved")


def test_missing_decline_cards_fail_without_a_waiver(outcomes: dict[str, str]) -> None:
    declines = {n for n in failed(outcomes, "TestNoDeclineCards")}
    assert declines == {
        f"test_decline_uses_a_standard_error_code[{o}]"
        for o in (
            "decline",
            "insufficient_funds",
            "expired_card",
            "incorrect_cvc",
            "processing_error",
        )
    }


def test_waived_declines_are_skipped_and_shown(child_run: tuple[dict[str, str], str]) -> None:
    outcomes, stdout = child_run
    assert failed(outcomes, "TestDeclinesWaived") == set()
    skipped = outcomes["TestDeclinesWaived::test_decline_uses_a_standard_error_code[expired_card]"]
    assert skipped.startswith("skipped: waived by sandbox (decline:expired_card)"), skipped
    summary = stdout.split("paygate: waived conformance checks", 1)[1]
    assert "sandbox: decline:expired_card: no expired_card test card here" in summary


def test_missing_credentials_skip_with_one_line_reason(outcomes: dict[str, str]) -> None:
    mine = {n: o for n, o in outcomes.items() if n.startswith("TestNeedsCredentials::")}
    assert mine and all(
        o.startswith("skipped: ") and "PAYGATE_CONFORMANCE_NEVER_SET" in o and "\n" not in o
        for o in mine.values()
    )
