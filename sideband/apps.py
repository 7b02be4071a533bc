from django.apps import AppConfig


class SidebandConfig(AppConfig):
    name = "sideband"
    verbose_name = "Sideband watcher"
