from django.apps import AppConfig


class PeerConfig(AppConfig):
    name = "bench.peer_django"
    label = "bench_peer"
    default_auto_field = "django.db.models.BigAutoField"
