"""`manage.py localrealtime --port N [--host 127.0.0.1]`: the local engine alone, under daphne.

Decoders are built before the port opens, so the first call does not pay for them. On SIGTERM
or SIGINT every peer connection is closed first: daphne does not exit while one is open.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Serve the local realtime engine alone (an upstream for benchmarks and load tests)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args: object, host: str, port: int, **options: object) -> None:
        # Imported here: daphne.server installs Twisted's asyncio reactor on import.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from localrealtime import runtime
        from localrealtime.shutdown import end_calls_before_shutdown

        settings.ROOT_URLCONF = "localrealtime.standalone"
        application = _application()
        runtime.recognizer().warm_up_blocking()
        end_calls_before_shutdown()
        logger.info("Local realtime engine on http://%s:%s/local-realtime/v1", host, port)
        self.stdout.write(f"Local realtime engine on http://{host}:{port}/local-realtime/v1")
        endpoints = build_endpoint_description_strings(host=host, port=port)
        Server(application, endpoints=endpoints).run()
        runtime.recognizer().shutdown()


def _application():  # type: ignore[no-untyped-def]
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.core.asgi import get_asgi_application
    from django.urls import path

    from localrealtime.routing import websocket_urlpatterns

    sockets = URLRouter([path("local-realtime/v1/", URLRouter(websocket_urlpatterns))])
    return ProtocolTypeRouter({"http": get_asgi_application(), "websocket": sockets})
