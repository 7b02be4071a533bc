"""A signaling socket client for tests: the real ASGI application through WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.testing import WebsocketCommunicator
from django.test import Client

from voiceapp.asgi import application

ORIGIN = "http://127.0.0.1:8000"


def session_cookie(client: Client) -> str:
    return client.cookies["sessionid"].value


class SignalingClient:
    """One browser tab's signaling socket."""

    def __init__(self, cookie: str | None = None, origin: str = ORIGIN) -> None:
        headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1:8000")]
        if cookie:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        self.communicator = WebsocketCommunicator(application, "/ws/signaling/", headers=headers)
        self.hello: dict[str, Any] = {}

    async def open(self) -> SignalingClient:
        connected, _ = await self.communicator.connect()
        assert connected
        self.hello = await self.receive()
        assert self.hello["type"] == "hello"
        return self

    async def send(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def receive(self, wait: float = 10) -> dict[str, Any]:
        return json.loads(await self.communicator.receive_from(timeout=wait))

    async def expect(self, message_type: str, wait: float = 10) -> dict[str, Any]:
        message = await self.receive(wait)
        assert message["type"] == message_type, message
        return message

    async def request(self, message: dict[str, Any], reply_type: str) -> dict[str, Any]:
        await self.send(message)
        return await self.expect(reply_type)

    async def nothing_more(self) -> bool:
        return await self.communicator.receive_nothing(timeout=0.2)

    async def close(self) -> None:
        await self.communicator.disconnect()


async def eventually(fetch, done, within: float = 15):
    """Poll `fetch` until `done(result)`; the last result either way (no timed assertion)."""
    for _ in range(int(within * 10)):
        result = await fetch()
        if done(result):
            break
        await asyncio.sleep(0.1)
    return result
