"""ASGI entry point: Django for HTTP, Channels for WebSockets.

Browser sockets (/ws/…) go through the origin check and the session sign-in (socket_auth).
The local engine's Realtime sockets (/local-realtime/v1/realtime) are an API endpoint with
bearer auth of their own, like the real service, so they bypass both.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from signaling.routing import websocket_urlpatterns as browser_socket_routes  # noqa: E402
from voiceapp.socket_auth import SessionAuthMiddleware  # noqa: E402

# re_path, not path: wrapped in middleware, the inner URLRouter no longer marks "ws/" as a
# prefix, and path("ws/", …) would then match only "/ws/" itself.
browser_sockets = SessionAuthMiddleware(URLRouter(browser_socket_routes))
socket_routes = [re_path(r"^ws/", AllowedHostsOriginValidator(browser_sockets))]
if settings.LOCAL_REALTIME_ENABLED:
    from localrealtime.routing import websocket_urlpatterns as engine_socket_routes
    from localrealtime.shutdown import end_calls_before_shutdown

    socket_routes.append(path("local-realtime/v1/", URLRouter(engine_socket_routes)))
    end_calls_before_shutdown()

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": URLRouter(socket_routes)})
