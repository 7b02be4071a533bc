from django.urls import path

from localrealtime.consumers import RealtimeConsumer

websocket_urlpatterns = [path("realtime", RealtimeConsumer.as_asgi())]
