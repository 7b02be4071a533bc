from django.urls import path

from localrealtime import views

app_name = "localrealtime"
urlpatterns = [
    path("realtime/client_secrets", views.client_secrets, name="client_secrets"),
    path("realtime/sessions", views.beta_sessions, name="beta_sessions"),
    path("realtime/calls", views.calls, name="calls"),
    path("realtime/calls/<str:call_id>/hangup", views.hangup, name="hangup"),
    path("realtime/engine_stats", views.engine_stats, name="engine_stats"),
]
