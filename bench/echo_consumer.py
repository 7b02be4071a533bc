"""A bare Daphne echo consumer: the ceiling the transcript-ingestion figures are compared with.

It speaks just enough of the signaling protocol for the ingestion client: `hello` (with the
same limits as Voiceapp's), `call.start` → `call.started`, `events.relay` → `events.ack`,
`call.end` → `call.ended`. It parses each frame's JSON like the real consumer but validates
nothing and stores nothing, behind the same origin check and session sign-in
(`voiceapp.socket_auth`), so the gap between the two is what Voiceapp's parsing, storing and
committing cost.

Run: `python -m daphne -b 127.0.0.1 -p PORT bench.echo_consumer:application`.
"""

from __future__ import annotations

import os
from typing import Any

import django

# Channels' auth helpers and the session store read Django's settings at import time.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from signaling import messages  # noqa: E402
from voiceapp.socket_auth import SessionAuthMiddleware  # noqa: E402

HELLO = {
    "type": "hello",
    "v": messages.VERSION,
    "limits": {"rate_per_second": messages.RATE_PER_SECOND, "rate_burst": messages.RATE_BURST},
}


class EchoConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send_json(HELLO)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type")
        if kind == "events.relay":
            await self.send_json({"type": "events.ack", "seq": content.get("seq"), "turns": []})
        elif kind == "call.start":
            await self.send_json({"type": "call.started", "conversation_id": 0, "mode": "echo"})
        elif kind == "call.end":
            await self.send_json({"type": "call.ended", "conversation_id": 0, "reason": "echo"})


routes = [path("ws/signaling/", EchoConsumer.as_asgi())]
application = ProtocolTypeRouter(
    {"websocket": AllowedHostsOriginValidator(SessionAuthMiddleware(URLRouter(routes)))}
)
