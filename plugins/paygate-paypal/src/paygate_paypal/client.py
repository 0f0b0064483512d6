"""The one door to PayPal: settings, the lazily built SDK client, OAuth, errors.

PayPal's official ``paypal-server-sdk`` does the HTTP work: base URL per
environment, OAuth client-credentials token, the ``PayPal-Request-Id`` header,
timeouts, and raising on every non-2xx answer. Bodies go in as JSON text we
build ourselves and come back as parsed JSON (``ApiResponse.text``), so what is
sent is exactly what the tests assert, whatever the SDK's model classes do.

The SDK is imported on first use only: it takes about 0.3 s to import.

``/v1/notifications/verify-webhook-signature`` is not in the server SDK; it goes
through plain ``requests`` on the *same* session, with the same OAuth token,
base URL and timeout (:meth:`PayPalClient.post_raw`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paygate.config import check_api_base
from paygate.errors import ConfigurationError, ErrorCode, PaygateError, ProviderUnavailable
from paygate.proxies import read_environment_once
from paygate_paypal.errors import classify, describe, exception_for

SANDBOX_BASE = "https://api-m.sandbox.paypal.com"
LIVE_BASE = "https://api-m.paypal.com"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Settings:
    """The ``[paypal]`` table, resolved. ``client_secret`` never shows in ``repr``."""

    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    environment: str = "sandbox"
    webhook_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    api_base: str = SANDBOX_BASE
    fees: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, section: Mapping[str, Any], *, test_mode: bool, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Read the ``[paypal]`` table (then ``PAYPAL_CLIENT_ID``/``PAYPAL_CLIENT_SECRET``).

        Missing credentials are not an error here (the plugin must still be
        listed by ``paygate plugins``); :meth:`require_credentials` raises when
        an operation runs.

        :raises ConfigurationError: unknown environment, live environment while
            ``test_mode`` is on, bad timeout.
        """
        env = os.environ if env is None else env
        environment = str(section.get("environment", "sandbox")).lower()
        if environment not in ("sandbox", "live"):
            raise ConfigurationError("[paypal] environment must be 'sandbox' or 'live'")
        if environment == "live" and test_mode:
            raise ConfigurationError(
                "[paypal] environment is 'live' while test_mode is on: "
                "set test_mode = false to take real payments, or use 'sandbox'"
            )
        try:
            timeout = float(section.get("timeout", DEFAULT_TIMEOUT))
        except (TypeError, ValueError):
            raise ConfigurationError("[paypal] timeout must be a number of seconds") from None
        if not 0 < timeout <= 600:
            raise ConfigurationError("[paypal] timeout must be between 0 and 600 seconds")
        default_base = LIVE_BASE if environment == "live" else SANDBOX_BASE
        api_base = check_api_base(section.get("api_base") or default_base, "[paypal] api_base")
        fees = section.get("fees") or {}
        if not isinstance(fees, Mapping):
            raise ConfigurationError("[paypal] fees must be a table")
        return cls(
            client_id=section.get("client_id") or env.get("PAYPAL_CLIENT_ID") or None,
            client_secret=section.get("client_secret") or env.get("PAYPAL_CLIENT_SECRET") or None,
            environment=environment,
            webhook_id=section.get("webhook_id") or env.get("PAYPAL_WEBHOOK_ID") or None,
            timeout=timeout,
            api_base=api_base,
            fees=dict(fees),
        )

    def require_credentials(self) -> tuple[str, str]:
        if not self.client_id or not self.client_secret:
            raise ConfigurationError(
                "PayPal credentials are missing: set [paypal] client_id and client_secret, "
                "or PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET"
            )
        return self.client_id, self.client_secret


class PayPalAPIError(Exception):
    """A PayPal error answer, classified. Internal: the plugin turns it into a
    ``failed`` result (declines) or a paygate exception (everything else)."""

    def __init__(self, status: int, body: dict[str, Any], *, request_sent: bool = True) -> None:
        self.status = status
        self.body = body
        self.code, self.reason = classify(status, body)
        self.message = describe(status, body, self.reason)
        self.request_sent = request_sent
        super().__init__(self.message)

    def object_not_found(self) -> bool:
        """PayPal itself said the object asked about does not exist.

        Only then may "not found" settle anything: our request reached PayPal
        (a failed token call never sent it) and the answer is PayPal's own
        ``RESOURCE_NOT_FOUND``/``INVALID_RESOURCE_ID``, not any 404 on the way.
        """
        names = {str(self.body.get("name") or "")}
        details = self.body.get("details")
        if isinstance(details, list):
            names.update(str(d.get("issue") or "") for d in details if isinstance(d, dict))
        return (
            self.status == 404
            and self.request_sent
            and bool(names & {"RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID"})
        )

    def to_exception(self) -> PaygateError:
        return exception_for(
            self.code, self.message, status=self.status, request_sent=self.request_sent
        )


class _TokenFailure(Exception):
    """Raised out of our OAuth token provider so the caller knows the
    operation's own request never left (``request_sent=False``)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(type(original).__name__)
        self.original = original


def _json_body(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {"message": "non-JSON answer"}
    return data if isinstance(data, dict) else {"items": data}


class PayPalClient:
    """One per plugin instance (so per :class:`paygate.Payments`): no global state.

    Holds the SDK client and its ``requests`` session, and the OAuth token
    until it expires.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sdk: Any = None
        self._session: Any = None
        self._token: Any = None
        #: how many times a token was fetched (observability, and tests)
        self.token_fetches = 0

    def __repr__(self) -> str:
        s = self.settings
        return f"PayPalClient(environment={s.environment!r}, api_base={s.api_base!r})"

    # -- SDK ---------------------------------------------------------------

    def sdk(self) -> Any:
        if self._sdk is None:
            self._sdk = self._build_sdk()
        return self._sdk

    def _build_sdk(self) -> Any:
        client_id, client_secret = self.settings.require_credentials()
        import requests
        from paypalserversdk.configuration import Configuration, Environment  # type: ignore[import-untyped]
        from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials  # type: ignore[import-untyped]
        from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient  # type: ignore[import-untyped]

        # Proxies from the environment once, not on every request (paygate.proxies).
        self._session = read_environment_once(requests.Session(), self.settings.api_base)
        environment = (
            Environment.PRODUCTION if self.settings.environment == "live" else Environment.SANDBOX
        )
        configuration = Configuration(
            http_client_instance=self._session,
            # The SDK's own retry would resend POSTs behind the core's back; the
            # core owns retries (same idempotency key, ledger-aware).
            override_http_client_configuration=True,
            max_retries=0,
            timeout=self.settings.timeout,
            environment=environment,
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                o_auth_client_id=client_id,
                o_auth_client_secret=client_secret,
                o_auth_token_provider=self._provide_token,
                # renew a minute early: a token expiring in flight is refused
                o_auth_clock_skew=60,
            ),
        )
        api_base = self.settings.api_base

        def base_uri(server: Any = None) -> str:
            return api_base

        # The SDK knows only its two hosts; tests and the offline demo point it
        # elsewhere. The client reads this bound at construction, so set it first.
        configuration.get_base_uri = base_uri
        return PaypalServersdkClient(config=configuration)

    def _provide_token(self, last_token: Any, auth_manager: Any) -> Any:
        """The SDK asks for a token only when it has none or it expired."""
        try:
            token = auth_manager.fetch_token()
        except Exception as exc:
            raise _TokenFailure(exc) from None
        self.token_fetches += 1
        self._token = token
        return token

    def access_token(self) -> str:
        """A valid bearer token (fetched or cached), for calls outside the SDK."""
        sdk = self.sdk()
        self._guard(lambda: sdk.oauth_2.is_valid(), request_sent_default=False)
        if self._token is None or not getattr(self._token, "access_token", None):
            raise PayPalAPIError(401, {"name": "AUTHENTICATION_FAILURE"}, request_sent=False)
        return str(self._token.access_token)

    # -- calls -------------------------------------------------------------

    def call(self, fn: Callable[[Any], Any]) -> dict[str, Any]:
        """Run one SDK call and return PayPal's JSON answer.

        :raises PayPalAPIError: PayPal answered with an error status.
        :raises ProviderUnavailable: no answer (timeout, connection failure).
        """
        sdk = self.sdk()
        response = self._guard(lambda: fn(sdk))
        return _json_body(getattr(response, "text", None))

    def post_raw(self, path: str, body: str) -> dict[str, Any]:
        """POST a JSON text outside the SDK (endpoints the SDK lacks)."""
        token = self.access_token()
        url = self.settings.api_base + path
        session = self._session

        def send() -> Any:
            return session.post(
                url,
                data=body.encode("utf-8"),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                timeout=self.settings.timeout,
            )

        response = self._guard(send)
        if response.status_code >= 400:
            raise PayPalAPIError(response.status_code, _json_body(response.text))
        return _json_body(response.text)

    def _guard(self, fn: Callable[[], Any], *, request_sent_default: bool = True) -> Any:
        import requests
        from apimatic_core.exceptions.auth_validation_exception import AuthValidationException  # type: ignore[import-untyped]
        from paypalserversdk.exceptions.api_exception import ApiException  # type: ignore[import-untyped]

        try:
            return fn()
        except _TokenFailure as failure:
            return self._raise_from(failure.original, request_sent=False)
        except AuthValidationException:
            # the SDK got no usable token and did not send the request
            raise PayPalAPIError(
                401, {"name": "AUTHENTICATION_FAILURE"}, request_sent=False
            ) from None
        except (ApiException, requests.RequestException) as exc:
            return self._raise_from(exc, request_sent=request_sent_default)

    def _raise_from(self, exc: BaseException, *, request_sent: bool) -> Any:
        import requests
        from paypalserversdk.exceptions.api_exception import ApiException

        if isinstance(exc, ApiException):
            status = int(exc.response_code)
            raise PayPalAPIError(
                status, _json_body(getattr(exc.response, "text", None)), request_sent=request_sent
            ) from None
        if isinstance(exc, requests.ConnectTimeout):
            sent = False
        elif isinstance(exc, requests.Timeout):
            sent = request_sent
        elif isinstance(exc, requests.ConnectionError):
            sent = request_sent and not _never_connected(exc)
        else:
            sent = request_sent
        what = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
        raise ProviderUnavailable(
            f"PayPal {what} ({type(exc).__name__})",
            code=ErrorCode.PROVIDER_UNAVAILABLE,
            request_sent=sent,
            retry_safe=True,
        ) from None


def _never_connected(exc: BaseException) -> bool:
    """True when the connection itself failed (DNS, refused): nothing was sent."""
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError):
            return True
        stack.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
        stack.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
    return False
