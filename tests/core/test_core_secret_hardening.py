"""Secrets the outside review found leaking, each pinned (issue 15, items 12-16)."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import pytest
from click.testing import CliRunner
from core_helpers import card, usd

import paygate
import paygate.config as pconfig
import paygate.redaction as redaction
from paygate.cli import main
from paygate.config import Config
from paygate.errors import ConfigurationError, PaygateError
from paygate.operations import PaymentRequest, ProviderResult
from paygate.redaction import REDACTED, get_logger, protect_sdk_loggers, scrub_data, scrub_text

# -- 12: config errors never echo a value -----------------------------------------


def test_a_misplaced_key_is_not_echoed_by_the_config_error() -> None:
    key = "sk_test_" + secrets.token_hex(12)
    with pytest.raises(ConfigurationError) as err:
        Config({"stripe": key}).section("stripe")
    assert key not in str(err.value)
    assert key[8:20] not in str(err.value)
    assert "str" in str(err.value)


@pytest.mark.parametrize("value", [[], {}, 3, "ROUND_SIDEWAYS", "EK" + "x" * 20])
def test_a_bad_rounding_is_a_configuration_error_without_its_value(value: Any) -> None:
    with pytest.raises(ConfigurationError) as err:
        Config({"rounding": value})
    if isinstance(value, str):
        assert value not in str(err.value)


def test_a_bad_pool_size_is_named_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as err:
        Config({"database_pool_size": "hunter2hunter2"})
    assert "hunter2" not in str(err.value)


def test_a_skipped_plugin_logs_no_configured_secret(
    caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    # A PayPal secret typed where the [paypal] table belongs: the plugin is
    # skipped with a warning and a log line, neither holding the secret.
    secret = "EKsecret" + secrets.token_hex(16)
    raised = ""
    with caplog.at_level(logging.WARNING):
        try:
            paygate.Payments({"database_url": "memory", "paypal": secret}).close()
        except PaygateError as exc:
            raised = str(exc)
    assert secret[:16] not in raised
    # Not even a truncated part of it.
    assert secret[:16] not in caplog.text
    assert all(secret[:16] not in str(w.message) for w in recwarn)


def test_the_cli_prints_no_config_value(tmp_path: Any) -> None:
    secret = "EKsecret" + secrets.token_hex(16)
    path = tmp_path / "paygate.toml"
    path.write_text(f'rounding = "{secret}"\n')
    result = CliRunner().invoke(main, ["--config", str(path), "plugins"])
    assert result.exit_code != 0
    assert secret not in result.output
    path.write_text("rounding = []\n")
    result = CliRunner().invoke(main, ["--config", str(path), "plugins"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, TypeError)


# -- 13: error messages are scrubbed, whoever built them ----------------------------


def test_every_paygate_error_scrubs_basic_and_bearer_credentials() -> None:
    basic = "QVp0ZXN0OkVLdGVzdHNlY3JldHZhbHVl"
    exc = paygate.errors.AuthenticationError(
        f"PayPal AUTHENTICATION_FAILURE (HTTP 401): Client Authentication failed: Basic {basic}"
    )
    assert basic not in str(exc)
    assert basic not in exc.message
    assert basic not in repr(exc)
    assert basic not in str(exc.to_dict())
    bearer = "A21AAF" + secrets.token_hex(20)
    assert bearer not in str(PaygateError(f"token Bearer {bearer} expired"))


# -- 14: refund reasons, card-secret metadata keys, form-encoded logs ---------------


def test_a_refund_reason_is_scrubbed_in_the_ledger_and_repr() -> None:
    with paygate.Payments({"database_url": "memory"}, load_entrypoints=False) as p:
        tx = p.purchase(usd("10.00"), card())
        tx = p.refund(tx.id, usd("1.00"), reason="card 4111 1111 1111 1111 cvc 907")
        stored = p.ledger.get_transaction(tx.id)
        assert stored is not None
        for text in (repr(tx), repr(stored), repr(p.transaction(tx.id))):
            assert "4111 1111 1111 1111" not in text
            # After "cvc" only: ids and timestamps may hold "907" by chance.
            assert re.search(r"(?i)cvc\W*907", text) is None
        assert stored.refunds[0].reason is not None
        assert REDACTED in stored.refunds[0].reason


def test_metadata_under_a_card_secret_key_is_not_stored_or_traced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PAYGATE_DEBUG", "1")
    with (
        caplog.at_level(logging.DEBUG),
        paygate.Payments({"database_url": "memory"}, load_entrypoints=False) as p,
    ):
        tx = p.purchase(usd("3.00"), card(), metadata={"card[cvc]": "907", "CVV": "4321"})
        stored = p.ledger.get_transaction(tx.id)
        assert stored is not None
        assert stored.metadata == {"card[cvc]": REDACTED, "CVV": REDACTED}
        ops = repr(p.ledger.operations())
    # Next to their keys only: hex ids and timestamps may hold the digits by chance.
    near_key = re.compile(r"(?i)(?:cvc|cvv)\W{0,8}(?:907|4321)")
    assert near_key.search(ops) is None
    assert near_key.search(caplog.text) is None


@pytest.mark.parametrize(
    "body",
    [
        "amount=100&metadata[paygate_reason]=my+cvc+907",
        "amount=100&metadata%5Bpaygate_reason%5D=my%20cvc%20907",
        "metadata%5Bcard%5Bcvc%5D%5D=907",
        "description=card+4111+1111+1111+1111",
    ],
)
def test_an_sdk_request_body_log_is_scrubbed_form_encoded_too(
    body: str, caplog: pytest.LogCaptureFixture
) -> None:
    protect_sdk_loggers()
    with caplog.at_level(logging.DEBUG, logger="stripe"):
        logging.getLogger("stripe").debug("Post details post_data=%s", body)
    assert "907" not in caplog.text
    assert "1111+1111" not in caplog.text


# -- 15: plugins declare their secrets -----------------------------------------------


class AcmeGateway:
    """A third-party provider whose key shape the core cannot know."""

    def __init__(self) -> None:
        self.key = ""

    @paygate.hookimpl
    def paygate_configure(self, config: Config) -> None:
        self.key = config.section("acme").get("api_key", "")

    @paygate.hookimpl
    def paygate_secret_patterns(self) -> list[str]:
        return [r"acme_(?:test|live)_[A-Za-z0-9]{8,}"]

    @paygate.hookimpl
    def paygate_provider_info(self) -> paygate.ProviderInfo:
        return paygate.ProviderInfo(name="acme", currencies=frozenset({"USD"}))

    @paygate.hookimpl
    def paygate_authorize(self, request: PaymentRequest) -> ProviderResult:
        token = "acme_test_" + secrets.token_hex(10)
        if request.description == "echo":
            raise paygate.errors.ProviderUnavailable(
                f"acme said: bad key {self.key} and token {token}", request_sent=False
            )
        if request.description == "bug":
            raise RuntimeError(f"key {self.key} token {token}")
        return ProviderResult(
            status=paygate.TransactionStatus.CAPTURED,
            provider_reference="acme_pay_4111111111111111",
            amount=request.amount,
            raw={"echo": f"Authorization {self.key}", "token": token, "note": f"t={token}"},
        )


@pytest.fixture
def acme() -> Any:
    gateway = AcmeGateway()
    # A configured secret with no recognisable shape: scrubbed as itself.
    key = "plain" + secrets.token_hex(12)
    with paygate.Payments(
        {"database_url": "memory", "acme": {"api_key": key}},
        plugins=[gateway],
        load_entrypoints=False,
    ) as p:
        yield p, key


def test_declared_patterns_and_configured_values_are_scrubbed_from_errors(acme: Any) -> None:
    p, key = acme
    for description in ("echo", "bug"):
        with pytest.raises(PaygateError) as err:
            p.purchase(usd("5.00"), card(), provider="acme", description=description)
        text = f"{err.value} {err.value!r} {err.value.to_dict()}"
        assert key not in text
        assert "acme_test_" not in text


def test_declared_secrets_are_scrubbed_from_the_ledger_but_ids_are_not(acme: Any) -> None:
    p, key = acme
    tx = p.purchase(usd("5.00"), card(), provider="acme")
    assert tx.provider_reference == "acme_pay_4111111111111111"
    ops = repr(p.ledger.operations())
    assert key not in ops
    assert "acme_test_" not in ops
    assert "acme_pay_4111111111111111" in ops


def test_declared_secrets_are_scrubbed_from_logs(
    acme: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _p, key = acme
    with caplog.at_level(logging.INFO):
        get_logger("acme.sdk").info("sending %s with acme_live_%s", key, "Zz" * 8)
    assert key not in caplog.text
    assert "acme_live_" not in caplog.text


def test_a_pattern_matching_everything_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        redaction.declare_secret_patterns([r".*"])
    with pytest.raises(ValueError, match="compile"):
        redaction.declare_secret_patterns([r"acme_("])
    with pytest.raises(TypeError):
        redaction.declare_secret_patterns([42])  # type: ignore[list-item]


# -- 16: api_base over https; PANs grouped any way people type them -------------------


@pytest.mark.parametrize(
    "url", ["http://api.example.com", "ftp://x", "api.example.com", "http://", 42, None]
)
def test_an_api_base_must_be_https(url: Any) -> None:
    with pytest.raises(ConfigurationError):
        pconfig.check_api_base(url, "x.api_base")


@pytest.mark.parametrize(
    "url", ["https://api-m.paypal.com", "http://127.0.0.1:8420", "http://localhost:1/"]
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert pconfig.check_api_base(url, "x.api_base") == url.rstrip("/")


@pytest.mark.parametrize(
    "typed",
    [
        "4111  1111  1111  1111",
        "4111_1111_1111_1111",
        "4111/1111/1111/1111",
        "4111 - 1111 - 1111 - 1111",
        "4111+1111+1111+1111",
        "4111%201111%201111%201111",
    ],
)
def test_grouped_card_numbers_are_scrubbed(typed: str) -> None:
    assert "1111" not in scrub_text(f"card {typed} please").replace(f"{REDACTED}1111", "")
    assert scrub_data({"note": typed}) != {"note": typed}
    with paygate.Payments({"database_url": "memory"}, load_entrypoints=False) as p:
        tx = p.purchase(usd("2.00"), paygate.Card(typed.replace("%20", " "), 12, 2040, "123"))
        tx = p.purchase(usd("2.00"), card(), description=f"paid with {typed}")
        assert tx.description is not None
        assert typed not in tx.description


class _EchoingConfigure:
    """A third-party plugin whose configure fails quoting its own secret."""

    @paygate.hookimpl
    def paygate_configure(self, config: Config) -> None:
        raise RuntimeError(f"cannot log in with {config.section('echoing')['client_secret']}")


def test_a_plugin_skipped_for_echoing_its_secret_logs_no_secret(
    caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    from paygate.manager import make_plugin_manager

    secret = "Zq" + secrets.token_hex(16)  # no known shape: scrubbed as a configured value
    with caplog.at_level(logging.WARNING):
        make_plugin_manager(
            Config({"database_url": "memory", "echoing": {"client_secret": secret}}),
            plugins=[_EchoingConfigure()],
            load_entrypoints=False,
        )
    assert "was skipped" in caplog.text
    assert secret not in caplog.text
    assert all(secret not in str(w.message) for w in recwarn)


def test_a_process_that_builds_many_configurations_still_scrubs_the_newest_key() -> None:
    """Past the bound on remembered values, the newest configured key is still
    scrubbed (the oldest is forgotten): a long-running host, or a test run that
    builds hundreds of ``Payments`` with fresh keys, never stops scrubbing the
    key it was just given. (Found by the kit's mutation test: from the 257th
    configuration on, the configured key went unscrubbed.)"""
    keys = [f"acmekey{secrets.token_hex(12)}" for _ in range(redaction.MAX_SECRET_VALUES + 40)]
    for key in keys:
        redaction.declare_secret_values([key])
        assert key not in scrub_text(f"refused key {key} here"), "the newest key leaked"
    # The most recent MAX_SECRET_VALUES are all still scrubbed.
    for key in keys[-redaction.MAX_SECRET_VALUES :]:
        assert key not in scrub_text(key)
    # Declaring a remembered key again keeps it among the newest.
    redaction.declare_secret_values([keys[-redaction.MAX_SECRET_VALUES]])
    redaction.declare_secret_values([f"acmekey{secrets.token_hex(12)}"])
    assert keys[-redaction.MAX_SECRET_VALUES] not in scrub_text(keys[-redaction.MAX_SECRET_VALUES])
