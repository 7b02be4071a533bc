from django.apps import AppConfig


class LimitsConfig(AppConfig):
    name = "limits"
    verbose_name = "Limits and budgets"

    def ready(self) -> None:
        from limits import checks  # noqa: F401  (registers the system checks)
