"""The engine alone, as an upstream for benchmarks and load tests (`manage.py localrealtime`).

Same paths as when embedded (`/local-realtime/v1/…`), without the rest of Voiceapp.
"""

from django.urls import include, path

urlpatterns = [path("local-realtime/v1/", include("localrealtime.urls"))]
