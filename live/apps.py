from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live monitoring"

    def ready(self) -> None:
        from live.restart import close_sockets_before_shutdown

        # Under Daphne (its reactor is running by now); elsewhere there is nothing to close.
        close_sockets_before_shutdown()
