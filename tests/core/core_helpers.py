"""Small helpers shared by the core tests."""

from __future__ import annotations

import datetime as dt

import paygate

YEAR = dt.date.today().year + 3


def card(number: str = "4242424242424242", cvc: str = "123") -> paygate.Card:
    return paygate.Card(number, 12, YEAR, cvc)


def usd(amount: str) -> paygate.Money:
    return paygate.Money(amount, "USD")
