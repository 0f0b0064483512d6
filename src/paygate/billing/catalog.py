"""The catalog: what a host sells, as data (TOML), validated on load.

Products have plan sizes (attendee tiers) or a single price; each sells on
declared cycles (``unit`` day/month/year and ``count``); allowances (free
minutes per month) and overage rates go with them; prices are per currency
and dated: a new version applies to periods that start on or after its
``valid_from`` and never rewrites what was billed (invoice lines store the
amount they charged and the version they came from).

A price is the *monthly list price*, as :meth:`paygate.Payments.quote` takes
it: an annual cycle is quoted as 12 months and the pricing plugin applies the
annual and nonprofit discounts. The catalog never holds a discount itself.

Every mistake raises :class:`~paygate.billing.errors.CatalogError` naming the
path of the key (``products.webinar.sizes.s25.prices[0].amount``).
See ``docs/billing.md`` for the format.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from paygate.billing.errors import CatalogError, UnknownPrice
from paygate.billing.periods import UNITS, Interval
from paygate.errors import PaygateError
from paygate.money import Money

BillsAs = Literal["monthly", "annual"]
KINDS = ("plan", "addon", "toll_free_number")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class Cycle:
    """A billing cycle: its interval and how :meth:`Payments.quote` prices it."""

    code: str
    interval: Interval
    bills_as: BillsAs

    @property
    def allowance_months(self) -> int:
        """Months of allowance one period grants (12 for an annual cycle)."""
        return 12 if self.bills_as == "annual" else 1


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """One dated price of an offer in one currency (a monthly list price)."""

    offer: str
    currency: str
    amount: Money
    valid_from: date
    overage: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.offer}@{self.currency}@{self.valid_from.isoformat()}"


@dataclass(frozen=True, slots=True)
class Offer:
    """Something a subscription item can be: a plan size or an add-on.

    ``code`` is ``product/size`` for a plan size, the product code otherwise.
    """

    code: str
    product: str
    size: str | None
    name: str
    kind: str
    cycles: tuple[str, ...]
    allowances: Mapping[str, int]
    attendees: int | None
    prices: tuple[PriceVersion, ...]

    def price(self, currency: str, on: date) -> PriceVersion:
        """The version in force on ``on`` in ``currency``."""
        found = [p for p in self.prices if p.currency == currency and p.valid_from <= on]
        if not found:
            have = sorted({p.currency for p in self.prices})
            raise UnknownPrice(
                f"{self.code} has no {currency} price on {on.isoformat()} (priced in {have})",
                param="price",
            )
        return max(found, key=lambda p: p.valid_from)

    def currencies(self) -> frozenset[str]:
        return frozenset(p.currency for p in self.prices)


@dataclass(frozen=True, slots=True)
class Catalog:
    cycles: Mapping[str, Cycle]
    offers: Mapping[str, Offer]
    source: str = "<catalog>"

    def offer(self, code: object) -> Offer:
        if not isinstance(code, str) or code not in self.offers:
            raise UnknownPrice(
                f"no plan or add-on {code!r:.80} in the catalog (known: {sorted(self.offers)})",
                param="price",
            )
        return self.offers[code]

    def cycle(self, code: object, offer: Offer | None = None) -> Cycle:
        if not isinstance(code, str) or code not in self.cycles:
            raise UnknownPrice(
                f"no cycle {code!r:.40} in the catalog (known: {sorted(self.cycles)})",
                param="cycle",
            )
        if offer is not None and code not in offer.cycles:
            raise UnknownPrice(
                f"{offer.code} is not sold on the {code} cycle (only {list(offer.cycles)})",
                param="cycle",
            )
        return self.cycles[code]

    def price_version(self, version_id: str) -> PriceVersion:
        offer = version_id.partition("@")[0]
        for p in self.offer(offer).prices:
            if p.id == version_id:
                return p
        raise UnknownPrice(f"no price version {version_id!r}", param="price")

    # -- loading -----------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except OSError as exc:
            raise CatalogError(str(p), f"cannot read the file: {exc.strerror}") from None
        return cls.loads(text, source=str(p))

    @classmethod
    def loads(cls, text: str, *, source: str = "<catalog>") -> Catalog:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(source, f"not valid TOML: {exc}") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<catalog>") -> Catalog:
        _keys("(top level)", data, required=("cycles", "products"), optional=())
        cycles = {
            code: _cycle(f"cycles.{code}", code, value)
            for code, value in _table("cycles", data["cycles"]).items()
        }
        if not cycles:
            raise CatalogError("cycles", "declare at least one cycle")
        offers: dict[str, Offer] = {}
        products = _table("products", data["products"])
        if not products:
            raise CatalogError("products", "declare at least one product")
        for code, value in products.items():
            for offer in _product(f"products.{code}", code, value, cycles):
                offers[offer.code] = offer
        return cls(cycles=cycles, offers=offers, source=source)


# -- validation helpers ---------------------------------------------------------


def _table(path: str, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise CatalogError(path, f"must be a table, not {type(value).__name__}")
    for key in value:
        if not _CODE.match(str(key)):
            raise CatalogError(
                f"{path}.{key}", "codes are lowercase letters, digits, '-' and '_' (1-64)"
            )
    return dict(value)


def _keys(
    path: str, value: Mapping[str, Any], *, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    for key in required:
        if key not in value:
            raise CatalogError(f"{path}.{key}" if path != "(top level)" else key, "is required")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        where = f"{path}.{unknown[0]}" if path != "(top level)" else unknown[0]
        raise CatalogError(where, f"unknown key (known: {sorted((*required, *optional))})")


def _int(path: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CatalogError(path, f"must be an integer >= {minimum}, not {value!r:.40}")
    return value


def _text(path: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise CatalogError(path, "must be a non-empty string (at most 200 characters)")
    return value


def _decimal(path: str, value: object) -> Decimal:
    if isinstance(value, float):
        raise CatalogError(path, f"write amounts as strings ('{value}'): a TOML float is not exact")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CatalogError(path, f"must be a decimal string such as '25.00', not {value!r:.40}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise CatalogError(path, f"{value!r:.40} is not a decimal number") from None
    if not number.is_finite() or number < 0:
        raise CatalogError(path, f"must be a finite amount >= 0, not {value!r:.40}")
    return number


def _date(path: str, value: object) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CatalogError(path, f"must be a date (2027-01-01), not {value!r:.40}")


def _cycle(path: str, code: str, value: object) -> Cycle:
    table = _table(path, value)
    _keys(path, table, required=("unit", "count"), optional=("bills_as",))
    unit = table["unit"]
    if unit not in UNITS:
        raise CatalogError(f"{path}.unit", f"must be one of {list(UNITS)}, not {unit!r:.20}")
    interval = Interval(unit, _int(f"{path}.count", table["count"], minimum=1))
    bills_as = table.get("bills_as")
    if bills_as is None:
        if interval.months == 1:
            bills_as = "monthly"
        elif interval.months == 12:
            bills_as = "annual"
        else:
            raise CatalogError(
                f"{path}.bills_as",
                f"say how a {interval} cycle is quoted: 'monthly' (one month's list price) "
                "or 'annual' (12 months, with the annual discount)",
            )
    if bills_as not in ("monthly", "annual"):
        raise CatalogError(
            f"{path}.bills_as", f"must be 'monthly' or 'annual', not {bills_as!r:.20}"
        )
    return Cycle(code, interval, "annual" if bills_as == "annual" else "monthly")


def _allowances(path: str, value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise CatalogError(path, "must be a table of metric = units per month")
    out = {}
    for metric, units in value.items():
        if not _METRIC.match(str(metric)):
            raise CatalogError(f"{path}.{metric}", "metric names are lowercase identifiers")
        out[str(metric)] = _int(f"{path}.{metric}", units, minimum=0)
    return out


def _prices(path: str, offer: str, value: object) -> tuple[PriceVersion, ...]:
    if not isinstance(value, list) or not value:
        raise CatalogError(path, "must be a non-empty array of tables ([[...prices]])")
    seen: set[tuple[str, date]] = set()
    out = []
    for i, raw in enumerate(value):
        here = f"{path}[{i}]"
        if not isinstance(raw, Mapping):
            raise CatalogError(here, "must be a table")
        _keys(here, raw, required=("currency", "amount", "valid_from"), optional=("overage",))
        currency = raw["currency"]
        amount = _decimal(f"{here}.amount", raw["amount"])
        try:
            money = Money(amount, currency if isinstance(currency, str) else "")
        except PaygateError as exc:
            param = "currency" if "currency" in exc.message else "amount"
            raise CatalogError(f"{here}.{param}", exc.message) from None
        valid_from = _date(f"{here}.valid_from", raw["valid_from"])
        if (money.currency, valid_from) in seen:
            raise CatalogError(
                f"{here}.valid_from",
                f"a second {money.currency} price from {valid_from.isoformat()}",
            )
        seen.add((money.currency, valid_from))
        overage: dict[str, Decimal] = {}
        if "overage" in raw:
            table = raw["overage"]
            if not isinstance(table, Mapping):
                raise CatalogError(f"{here}.overage", "must be a table of metric = unit price")
            for metric, rate in table.items():
                if not _METRIC.match(str(metric)):
                    raise CatalogError(f"{here}.overage.{metric}", "metric names are identifiers")
                overage[str(metric)] = _decimal(f"{here}.overage.{metric}", rate)
        out.append(PriceVersion(offer, money.currency, money, valid_from, overage))
    return tuple(out)


def _product(path: str, code: str, value: object, cycles: Mapping[str, Cycle]) -> list[Offer]:
    table = _table(path, value) if not isinstance(value, Mapping) else dict(value)
    _keys(
        path,
        table,
        required=("name", "kind", "cycles"),
        optional=("sizes", "prices", "allowances", "attendees"),
    )
    name = _text(f"{path}.name", table["name"])
    kind = table["kind"]
    if kind not in KINDS:
        raise CatalogError(f"{path}.kind", f"must be one of {list(KINDS)}, not {kind!r:.30}")
    sold_on = table["cycles"]
    if not isinstance(sold_on, list) or not sold_on:
        raise CatalogError(f"{path}.cycles", "must be a non-empty list of cycle codes")
    for i, c in enumerate(sold_on):
        if c not in cycles:
            raise CatalogError(
                f"{path}.cycles[{i}]", f"unknown cycle {c!r:.40} (known: {sorted(cycles)})"
            )
    allowances = _allowances(f"{path}.allowances", table.get("allowances", {}))
    attendees = table.get("attendees")
    if ("sizes" in table) == ("prices" in table):
        raise CatalogError(path, "give either sizes (plan tiers) or prices, not both or neither")
    if "prices" in table:
        return [
            Offer(
                code=code,
                product=code,
                size=None,
                name=name,
                kind=kind,
                cycles=tuple(sold_on),
                allowances=allowances,
                attendees=None
                if attendees is None
                else _int(f"{path}.attendees", attendees, minimum=1),
                prices=_prices(f"{path}.prices", code, table["prices"]),
            )
        ]
    sizes = _table(f"{path}.sizes", table["sizes"])
    if not sizes:
        raise CatalogError(f"{path}.sizes", "declare at least one size")
    offers = []
    for size, raw in sizes.items():
        here = f"{path}.sizes.{size}"
        if not isinstance(raw, Mapping):
            raise CatalogError(here, "must be a table")
        _keys(here, raw, required=("name", "prices"), optional=("attendees", "allowances"))
        offer_code = f"{code}/{size}"
        own = _allowances(f"{here}.allowances", raw.get("allowances", {}))
        offers.append(
            Offer(
                code=offer_code,
                product=code,
                size=size,
                name=f"{name} {_text(f'{here}.name', raw['name'])}",
                kind=kind,
                cycles=tuple(sold_on),
                allowances={**allowances, **own},
                attendees=None
                if raw.get("attendees") is None
                else _int(f"{here}.attendees", raw["attendees"], minimum=1),
                prices=_prices(f"{here}.prices", offer_code, raw["prices"]),
            )
        )
    return offers


__all__ = ["KINDS", "Catalog", "Cycle", "Offer", "PriceVersion"]
