import pytest
from paygate_stripe.plugin import StripeProvider
from paygate_stripe.settings import from_config, key_mode
from stripe_fixtures import Requests, fake_key, make_provider

from paygate.config import Config
from paygate.errors import ConfigurationError, ErrorCode


def test_stripe_missing_key_is_reported_only_when_an_operation_runs(reqs: Requests) -> None:
    provider = StripeProvider()
    provider.configure({}, environ={})
    info = provider.paygate_provider_info()
    assert info.name == "stripe"
    assert info.capabilities.three_d_secure
    assert info.capabilities.multiple_refunds
    assert not info.capabilities.multiple_captures
    with pytest.raises(ConfigurationError) as err:
        provider.paygate_authorize(reqs.payment())
    assert err.value.code is ErrorCode.CONFIG_ERROR
    assert "STRIPE_API_KEY" in err.value.message


def test_stripe_key_from_environment() -> None:
    key = fake_key()
    settings = from_config({}, environ={"STRIPE_API_KEY": key})
    assert settings.require_key() == key


@pytest.mark.parametrize("prefix", ["sk_live_", "rk_live_"])
def test_stripe_live_key_refused_in_test_mode(prefix: str, reqs: Requests) -> None:
    live = prefix + "abcdefghijklmnop0123"
    provider = make_provider({"api_key": live}, test_mode=True)
    with pytest.raises(ConfigurationError) as err:
        provider.paygate_authorize(reqs.payment())
    assert err.value.code is ErrorCode.CONFIG_ERROR
    assert live not in err.value.message
    assert "abcdefghijklmnop0123" not in repr(provider)
    # the same key is fine once the host leaves test mode
    live_provider = make_provider({"api_key": live}, test_mode=False)
    assert live_provider.settings.require_key() == live
    assert live_provider.paygate_provider_info().test_mode is False


def test_stripe_key_never_in_repr() -> None:
    key = fake_key()
    provider = make_provider({"api_key": key, "webhook_secret": "whsec_abc123"})
    text = repr(provider) + repr(provider.settings) + str(provider.settings)
    assert key not in text
    assert key[8:] not in text
    assert "whsec_abc123" not in text
    assert "<test>" in repr(provider)


@pytest.mark.parametrize(
    ("section", "param"),
    [
        ({"webhook_secret": 5}, "webhook_secret"),
        ({"api_base": "ftp://x"}, "api_base"),
        ({"timeout": "soon"}, "timeout"),
        ({"max_network_retries": -1}, "max_network_retries"),
        ({"fees": "cheap"}, "fees"),
    ],
)
def test_stripe_malformed_settings_raise_at_once(section: dict[str, object], param: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        from_config(section, environ={})
    assert param in err.value.message


def test_stripe_settings_read_through_core_config() -> None:
    provider = StripeProvider()
    provider.paygate_configure(
        Config(
            {
                "stripe": {
                    "api_key": "sk_test_x1",
                    "webhook_secret": ["whsec_new", "whsec_old"],
                    "api_base": "http://127.0.0.1:9/",
                },
                "test_mode": True,
            }
        )
    )
    assert provider.settings.webhook_secrets == ("whsec_new", "whsec_old")
    assert provider.settings.api_base == "http://127.0.0.1:9"


def test_stripe_key_mode() -> None:
    assert key_mode("sk_test_1") == "test"
    assert key_mode("rk_live_1") == "live"
    assert key_mode("pk_test_1") is None
    assert key_mode(None) is None


def test_stripe_plugin_import_does_not_import_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, paygate_stripe.plugin as p; p.StripeProvider().paygate_provider_info();"
        "print('stripe' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
