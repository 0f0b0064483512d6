"""paygate-paypal: PayPal Orders v2 / Payments v2 / Vault v3 provider for paygate.

Importing this package (or :mod:`paygate_paypal.plugin`) does not import PayPal's
SDK: it loads on the first operation, so ``import paygate`` with every plugin
installed stays fast.
"""

__version__ = "0.1.0"
