"""Built-in plugin ``billing_permissions``: who may do what on an account's billing.

The seed: only the account owner sees billing details, pays or buys, from the
main account; multi-users and sub-accounts can neither see nor pay. Staff
actors (the billing service itself) may view, grant discounts, record usage,
freeze, cancel and release a parked subscription. It answers last
(``trylast``), so a host plugin that answers ``True`` or ``False`` first
decides instead.
"""

from __future__ import annotations

from paygate._markers import hookimpl
from paygate.billing.models import STAFF_ACTIONS, Account, Action, Actor

#: What even the owner may not do: the billing service grants discounts, meters
#: usage and releases a subscription parked for review.
_STAFF_ONLY = frozenset(
    {Action.GRANT_DISCOUNT.value, Action.RECORD_USAGE.value, Action.RELEASE.value}
)


class BillingPermissions:
    @hookimpl(trylast=True)
    def paygate_billing_authorize(self, actor: Actor, action: str, account: Account) -> bool:
        if actor.staff:
            return action in {a.value for a in STAFF_ACTIONS}
        if account.parent_id is not None:
            # A sub-account's billing is the main account's: nobody pays from here.
            return False
        return actor.ref == account.owner_ref and action not in _STAFF_ONLY
