"""Typed errors of the documents layer (each a :class:`~paygate.errors.PaygateError`)."""

from __future__ import annotations

from paygate.errors import InvalidRequest, InvalidState, NotFound, PluginError


class InvalidVatNumber(InvalidRequest):
    """A VAT number that fails its country's check (python-stdnum)."""


class MissingMandatoryData(InvalidRequest):
    """A document would miss a mandatory detail or mention; nothing was numbered.

    ``mention`` names it (``seller.vat_id``, ``fr.recovery_indemnity``...)."""

    def __init__(self, message: str, *, mention: str) -> None:
        super().__init__(message, param=mention)
        self.mention = mention


class DocumentNotFound(NotFound):
    """No such document (or not one the actor may see)."""


class CorrectionRefused(InvalidState):
    """A correction request that cannot be filed or decided (a credit note, a
    replaced document, one already open, a correction that changes nothing)."""


class RenderFailed(PluginError):
    """The renderer failed or is missing: the document was not issued (no number taken)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, plugin="paygate_billing_render", retry_safe=True)


__all__ = [
    "CorrectionRefused",
    "DocumentNotFound",
    "InvalidVatNumber",
    "MissingMandatoryData",
    "RenderFailed",
]
