from django.apps import AppConfig


class LocalRealtimeConfig(AppConfig):
    name = "localrealtime"
    verbose_name = "Local realtime engine"
