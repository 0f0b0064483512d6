"""Configuration, credentials and secrets; the plugin's manifest; import cost."""

from __future__ import annotations

import subprocess
import sys

import pytest
import responses
from paygate_paypal.amounts import to_paypal
from paygate_paypal.client import LIVE_BASE, SANDBOX_BASE, Settings
from paygate_paypal.plugin import PayPalProvider
from paypal_testdata import CLIENT_SECRET, OP, common, usd

from paygate.config import Config
from paygate.errors import ConfigurationError, ErrorCode, InvalidRequest
from paygate.models import PayPalWallet
from paygate.operations import PaymentRequest


def test_missing_credentials_fail_only_when_an_operation_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PAYPAL_CLIENT_ID", raising=False)
    monkeypatch.delenv("PAYPAL_CLIENT_SECRET", raising=False)
    provider = PayPalProvider()
    provider.paygate_configure(Config({}))
    info = provider.paygate_provider_info()
    assert info.name == "paypal"
    assert info.capabilities.verify is False
    assert info.capabilities.reauthorize is True
    assert "card" not in info.payment_methods
    with pytest.raises(ConfigurationError) as err:
        provider.paygate_authorize(
            PaymentRequest(
                **common(), operation=OP.AUTHORIZE, amount=usd("1.00"), method=PayPalWallet()
            )
        )
    assert err.value.code is ErrorCode.CONFIG_ERROR


def test_environment_variables_supply_credentials() -> None:
    settings = Settings.from_config(
        {}, test_mode=True, env={"PAYPAL_CLIENT_ID": "id-from-env", "PAYPAL_CLIENT_SECRET": "s"}
    )
    assert settings.client_id == "id-from-env"
    assert settings.api_base == SANDBOX_BASE


def test_live_while_test_mode_is_refused() -> None:
    provider = PayPalProvider()
    with pytest.raises(ConfigurationError) as err:
        provider.paygate_configure(
            Config({"paypal": {"environment": "live", "client_id": "a", "client_secret": "b"}})
        )
    assert err.value.code is ErrorCode.CONFIG_ERROR
    live = Settings.from_config({"environment": "live"}, test_mode=False, env={})
    assert live.api_base == LIVE_BASE


@pytest.mark.parametrize(
    "section", [{"environment": "staging"}, {"timeout": "soon"}, {"timeout": 0}]
)
def test_bad_settings(section: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_config(section, test_mode=True, env={})


def test_secret_never_in_repr(provider: PayPalProvider) -> None:
    assert CLIENT_SECRET not in repr(provider)
    assert CLIENT_SECRET not in repr(provider.client)
    assert CLIENT_SECRET not in repr(provider._settings)


@pytest.mark.parametrize(
    ("value", "currency", "sent"),
    [
        ("10.5", "USD", "10.50"),
        ("1000", "JPY", "1000"),
        ("1200.00", "HUF", "1200"),
        ("99", "TWD", "99"),
        ("0.01", "EUR", "0.01"),
    ],
)
def test_amounts_at_the_edge(value: str, currency: str, sent: str) -> None:
    from paygate.money import Money

    assert to_paypal(Money(value, currency)) == {"currency_code": currency, "value": sent}


@pytest.mark.parametrize(
    ("value", "currency", "code"),
    [
        ("10.50", "HUF", ErrorCode.INVALID_AMOUNT),
        ("1.25", "TWD", ErrorCode.INVALID_AMOUNT),
        ("0.00", "USD", ErrorCode.INVALID_AMOUNT),
        ("5.000", "KWD", ErrorCode.INVALID_CURRENCY),
    ],
)
def test_bad_amounts_are_refused_before_any_request(
    provider: PayPalProvider,
    rsps: responses.RequestsMock,
    value: str,
    currency: str,
    code: ErrorCode,
) -> None:
    from paygate.money import Money

    with pytest.raises(InvalidRequest) as err:
        provider.paygate_authorize(
            PaymentRequest(
                **common(),
                operation=OP.AUTHORIZE,
                amount=Money(value, currency),
                method=PayPalWallet(),
            )
        )
    assert err.value.code is code
    assert len(rsps.calls) == 0


def test_plugin_import_does_not_load_the_sdk() -> None:
    code = (
        "import sys, paygate_paypal.plugin\n"
        "heavy = ('paypalserversdk', 'requests', 'responses', 'apimatic_core')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_entry_point_is_registered() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="paygate")}
    assert names.get("paypal") == "paygate_paypal.plugin:PayPalProvider"
