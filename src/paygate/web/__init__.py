"""``paygate.web`` (the ``paygate[web]`` extra): the billing portal and the
provider webhook endpoint, as ASGI apps any Python web host mounts."""

from __future__ import annotations

from paygate.web.portal import billing_portal
from paygate.web.webhooks import webhook_endpoint

__all__ = ["billing_portal", "webhook_endpoint"]
