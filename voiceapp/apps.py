from django.apps import AppConfig


class VoiceappConfig(AppConfig):
    name = "voiceapp"

    def ready(self) -> None:
        from voiceapp import checks  # noqa: F401  (registers the system checks)
