"""The cart of the quotes figure: five line items and two buyer fee lines.

The pricing tests price the same cart against their reference engine
(``tests/pricing/test_pricing_fast_paths.py``), so what the figure measures
is also what is pinned.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paygate.pricing.models import FeeLine, LineItem


def quote_cart() -> tuple[tuple[LineItem, ...], tuple[FeeLine, ...]]:
    """The items (a plan, two add-ons, a toll-free number, tickets; USD) and
    the buyer fee lines (a 5 % service fee, 2.9 % + 0.30 card processing)."""
    from paygate import LineItem, Money
    from paygate.pricing.models import FeeLine

    items = (
        LineItem(sku="plan-pro", unit_price=Money("49.00", "USD"), kind="plan"),
        LineItem(sku="addon-rec", unit_price=Money("12.50", "USD"), kind="addon"),
        LineItem(sku="addon-seats", unit_price=Money("4.99", "USD"), quantity=3, kind="addon"),
        LineItem(sku="tollfree-us", unit_price=Money("9.00", "USD"), kind="toll_free_number"),
        LineItem(sku="ticket-conf", unit_price=Money("30.00", "USD"), quantity=2, kind="ticket"),
    )
    fees = (
        FeeLine(
            code="platform_service_fee",
            label="Service fee (5 %)",
            rate=Decimal("0.05"),
            payer="buyer",
            source="bench",
        ),
        FeeLine(
            code="gateway_fee",
            label="Card processing (2.9 % + 0.30)",
            rate=Decimal("0.029"),
            fixed=Money("0.30", "USD"),
            payer="buyer",
            source="bench",
        ),
    )
    return items, fees
