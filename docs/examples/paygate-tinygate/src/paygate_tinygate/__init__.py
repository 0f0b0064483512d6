"""TinyGate: paygate's example provider plugin."""

from paygate_tinygate.plugin import TinyGateProvider

__version__ = "0.1.0"
__all__ = ["TinyGateProvider"]
