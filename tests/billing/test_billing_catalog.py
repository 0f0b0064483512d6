"""The catalog as data: what loads, and the typed error naming the path of what does not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib import resources

import pytest

from paygate import Money
from paygate.billing.catalog import Catalog
from paygate.billing.errors import CatalogError, UnknownPrice

SMALL = """
[cycles.monthly]
unit = "month"
count = 1

[cycles.annual]
unit = "year"
count = 1

[products.webinar]
name = "Webinar"
kind = "plan"
cycles = ["monthly", "annual"]

[products.webinar.sizes.s25]
name = "25 attendees"
attendees = 25

[[products.webinar.sizes.s25.prices]]
currency = "USD"
amount = "30.00"
valid_from = 2026-01-01

[[products.webinar.sizes.s25.prices]]
currency = "USD"
amount = "35.00"
valid_from = 2027-03-01

[products.toll-free]
name = "Toll-free number"
kind = "toll_free_number"
cycles = ["monthly"]
allowances = { minutes = 100 }

[[products.toll-free.prices]]
currency = "EUR"
amount = "14.00"
valid_from = "2026-01-01"
overage = { minutes = "0.045" }
"""


def test_a_small_catalog_loads() -> None:
    cat = Catalog.loads(SMALL)
    plan = cat.offer("webinar/s25")
    assert plan.kind == "plan" and plan.attendees == 25 and plan.name == "Webinar 25 attendees"
    assert cat.cycle("annual", plan).interval.months == 12
    assert cat.cycle("annual").bills_as == "annual" and cat.cycle("monthly").bills_as == "monthly"
    tf = cat.offer("toll-free")
    assert tf.allowances == {"minutes": 100}
    assert tf.price("EUR", date(2027, 1, 1)).overage == {"minutes": Decimal("0.045")}


def test_dated_price_versions_pick_the_one_in_force() -> None:
    plan = Catalog.loads(SMALL).offer("webinar/s25")
    assert plan.price("USD", date(2027, 2, 28)).amount == Money("30.00", "USD")
    assert plan.price("USD", date(2027, 3, 1)).amount == Money("35.00", "USD")
    assert plan.price("USD", date(2030, 1, 1)).valid_from == date(2027, 3, 1)
    with pytest.raises(UnknownPrice, match="no USD price on 2025-12-31"):
        plan.price("USD", date(2025, 12, 31))
    with pytest.raises(UnknownPrice, match="no EUR price"):
        plan.price("EUR", date(2027, 1, 1))


def test_unknown_offer_and_cycle_are_typed() -> None:
    cat = Catalog.loads(SMALL)
    with pytest.raises(UnknownPrice, match="no plan or add-on 'webinar/s99'"):
        cat.offer("webinar/s99")
    with pytest.raises(UnknownPrice, match="not sold on the annual cycle"):
        cat.cycle("annual", cat.offer("toll-free"))
    with pytest.raises(UnknownPrice, match="no cycle 'weekly'"):
        cat.cycle("weekly")


def test_the_shipped_seed_catalog_loads() -> None:
    text = resources.files("paygate.billing").joinpath("seed_catalog.toml").read_text("utf-8")
    cat = Catalog.loads(text)
    assert {"webinar/s25", "webinar/s100", "webinar/s500", "recording", "toll-free"} <= set(
        cat.offers
    )
    assert cat.cycle("days-30").interval.unit == "day"
    assert cat.cycle("days-365").bills_as == "annual"


def _broken(old: str, new: str) -> str:
    assert old in SMALL
    return SMALL.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        (
            _broken('amount = "30.00"', "amount = 30.5"),
            "products.webinar.sizes.s25.prices[0].amount",
            "strings",
        ),
        (
            _broken('amount = "30.00"', 'amount = "30.001"'),
            "products.webinar.sizes.s25.prices[0].amount",
            "decimals",
        ),
        (
            _broken('amount = "30.00"', 'amount = "-1"'),
            "products.webinar.sizes.s25.prices[0].amount",
            ">= 0",
        ),
        (
            _broken('amount = "30.00"', 'amount = "lots"'),
            "products.webinar.sizes.s25.prices[0].amount",
            "not a decimal",
        ),
        (
            _broken('currency = "USD"', 'currency = "XXQ"'),
            "products.webinar.sizes.s25.prices[0].currency",
            "XXQ",
        ),
        (
            _broken("valid_from = 2027-03-01", "valid_from = 2026-01-01"),
            "products.webinar.sizes.s25.prices[1].valid_from",
            "second USD price",
        ),
        (
            _broken("valid_from = 2026-01-01", 'valid_from = "soon"'),
            "products.webinar.sizes.s25.prices[0].valid_from",
            "must be a date",
        ),
        (_broken('unit = "month"', 'unit = "week"'), "cycles.monthly.unit", "must be one of"),
        (_broken("count = 1", "count = 0"), "cycles.monthly.count", "integer >= 1"),
        (
            _broken('cycles = ["monthly", "annual"]', 'cycles = ["monthly", "weekly"]'),
            "products.webinar.cycles[1]",
            "unknown cycle",
        ),
        (_broken('kind = "plan"', 'kind = "gift"'), "products.webinar.kind", "must be one of"),
        (
            _broken("attendees = 25", "attendes = 25"),
            "products.webinar.sizes.s25.attendes",
            "unknown key",
        ),
        (_broken("minutes = 100", "minutes = -5"), "products.toll-free.allowances.minutes", ">= 0"),
        (
            _broken("[products.toll-free]", '[products."Toll Free"]'),
            "products.Toll Free",
            "lowercase",
        ),
    ],
)
def test_a_bad_catalog_names_the_path(text: str, path: str, words: str) -> None:
    with pytest.raises(CatalogError) as info:
        Catalog.loads(text)
    assert info.value.path == path
    assert words in str(info.value)
    assert str(info.value).startswith(f"catalog {path}:")


def test_a_cycle_that_is_neither_a_month_nor_a_year_says_how_to_quote_it() -> None:
    text = SMALL + '\n[cycles.quarterly]\nunit = "month"\ncount = 3\n'
    with pytest.raises(CatalogError) as info:
        Catalog.loads(text)
    assert info.value.path == "cycles.quarterly.bills_as"


def test_not_toml_and_missing_tables() -> None:
    with pytest.raises(CatalogError, match="not valid TOML"):
        Catalog.loads("[cycles", source="c.toml")
    with pytest.raises(CatalogError) as info:
        Catalog.loads("[cycles.monthly]\nunit='month'\ncount=1\n")
    assert info.value.path == "products"
    with pytest.raises(CatalogError) as info:
        Catalog.load("/nonexistent/catalog.toml")
    assert info.value.path == "/nonexistent/catalog.toml"


def test_sizes_and_prices_are_exclusive() -> None:
    text = _broken("allowances = { minutes = 100 }", "allowances = { minutes = 100 }\nsizes = {}")
    with pytest.raises(CatalogError) as info:
        Catalog.loads(text)
    assert info.value.path == "products.toll-free"
