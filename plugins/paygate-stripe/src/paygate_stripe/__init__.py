"""paygate-stripe: the Stripe provider for paygate.

The entry point (group ``paygate``) is ``stripe = "paygate_stripe.plugin:StripeProvider"``.
Importing this package does not import the ``stripe`` SDK; the plugin does on
its first call to Stripe.
"""

__version__ = "0.1.0"
