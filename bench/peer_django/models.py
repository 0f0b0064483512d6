"""django-payments' Payment as its docs have a host write it."""

from payments.models import BasePayment


class Payment(BasePayment):
    class Meta:
        app_label = "bench_peer"

    def get_success_url(self) -> str:
        return "https://shop.example/paid"

    def get_failure_url(self) -> str:
        return "https://shop.example/failed"
