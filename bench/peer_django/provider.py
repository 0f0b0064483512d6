"""django-payments' Stripe provider on the stripe SDK this bench runs.

django-payments 4.1.0 treats the Checkout Session as a dict (``.get``,
``json.dumps``), which the SDK's objects were until stripe 15. A host on a
current SDK needs this one mend: the session as a plain dict. The peer pays
that ``to_dict()`` (its cost is in the peer figure's note).
"""

from typing import Any

from payments.stripe.providers import StripeProviderV3


class StripeProviderV3CurrentSDK(StripeProviderV3):
    def create_session(self, payment: Any) -> Any:
        return super().create_session(payment).to_dict()
