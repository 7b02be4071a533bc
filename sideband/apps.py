from django.apps import AppConfig


class SidebandConfig(AppConfig):
    name = "sideband"
    verbose_name = "Sideband watcher"

    def ready(self) -> None:
        from sideband import checks  # noqa: F401  (registers the system checks)
