"""VAT and SIREN numbers, checked with python-stdnum (country check digits and formats)."""

from __future__ import annotations

from stdnum.exceptions import ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.util import get_cc_module

from paygate.billing.documents.errors import InvalidVatNumber


def clean_vat(number: str, country: str) -> str:
    """The VAT number in its compact form, prefixed by its country code
    (``FR40303265045``); raises :class:`InvalidVatNumber` when it fails the
    country's check. The prefix of a Greek number is ``EL``."""
    if not isinstance(number, str) or not number.strip():
        raise InvalidVatNumber("a VAT number is a non-empty string", param="vat_id")
    raw = number.strip().upper().replace(" ", "").replace(".", "").replace("-", "")
    prefix = "EL" if country == "GR" else country
    if raw[:2].isalpha():
        prefix = raw[:2]
    module = get_cc_module("gr" if prefix == "EL" else prefix.lower(), "vat")
    if module is None:
        raise InvalidVatNumber(f"no VAT number check is known for {prefix}", param="vat_id")
    try:
        compact = module.validate(raw[2:] if raw[:2].isalpha() else raw)
    except ValidationError as exc:
        raise InvalidVatNumber(
            f"{number!r} is not a valid {prefix} VAT number: {exc}", param="vat_id"
        ) from None
    compact = str(compact)
    return compact if compact[:2] == prefix else prefix + compact


def clean_siren(number: str) -> str:
    try:
        return str(stdnum_siren.validate(number))
    except ValidationError as exc:
        raise InvalidVatNumber(f"{number!r} is not a valid SIREN: {exc}", param="siren") from None


__all__ = ["clean_siren", "clean_vat"]
