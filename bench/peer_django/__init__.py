"""A one-model Django app for the peer figure (django-payments' concrete Payment).

Loaded only by :mod:`bench.peer_child`, after it configured Django.
"""
