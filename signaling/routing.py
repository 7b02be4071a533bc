from django.urls import path

from live.consumers import LiveConsumer
from signaling.consumers import SignalingConsumer

# Mounted under ws/ (origin check and session auth) by voiceapp/asgi.py.
websocket_urlpatterns = [
    path("signaling/", SignalingConsumer.as_asgi()),
    path("live/", LiveConsumer.as_asgi()),
]
