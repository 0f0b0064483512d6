"""The parts behind :class:`paygate.Payments`, one concept per module.

* :mod:`~paygate.facade.engine`: the pipeline every operation goes through
  (idempotency replay or refusal, the provider's hook inside the wrappers,
  failures as typed errors);
* :mod:`~paygate.facade.checks`: the payment method and the provider a
  payment is checked against before any provider call;
* :mod:`~paygate.facade.paying`: operations that create a transaction;
* :mod:`~paygate.facade.follow_ups`: capture, void, refund, confirm;
* :mod:`~paygate.facade.stored`: stored payment methods;
* :mod:`~paygate.facade.reconcile`: webhooks and reconcile;
* :mod:`~paygate.facade.pricing`: quotes and fees.

Hosts use :class:`paygate.Payments`; nothing here is public API.
"""
