"""paygate-cardnetworks: card brands, Luhn, lengths, CVC and expiry as a paygate plugin.

The pure helpers are importable without paygate's facade::

    from paygate_cardnetworks import detect_brand, luhn_valid, generate_pan
"""

from paygate_cardnetworks.networks import (
    Network,
    PrefixRange,
    brands,
    complete_pan,
    detect_brand,
    generate_pan,
    luhn_valid,
    network,
    networks,
)

__all__ = [
    "Network",
    "PrefixRange",
    "brands",
    "complete_pan",
    "detect_brand",
    "generate_pan",
    "luhn_valid",
    "network",
    "networks",
]
