"""The default routing: the configured ``default_provider``, else the first candidate."""

from __future__ import annotations

from paygate._markers import hookimpl
from paygate.config import Config
from paygate.models import ProviderInfo
from paygate.operations import RoutingRequest


class DefaultRouting:
    """Runs last (``trylast``): any routing plugin decides before it."""

    def __init__(self) -> None:
        self.default = "sandbox"

    @hookimpl
    def paygate_configure(self, config: Config) -> None:
        self.default = config.default_provider

    @hookimpl(trylast=True)
    def paygate_select_provider(
        self, request: RoutingRequest, candidates: list[ProviderInfo]
    ) -> str | None:
        names = [c.name for c in candidates]
        if self.default in names:
            return self.default
        return names[0] if names else None
