from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from voiceapp import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("conversations/", include("conversations.urls")),
    path("live/", include("live.urls")),
    path("usage/", include("limits.urls")),
    path("", include("signaling.urls")),
]

if settings.LOCAL_REALTIME_ENABLED:
    urlpatterns.append(path("local-realtime/v1/", include("localrealtime.urls")))
