"""A Live socket client for tests: the real ASGI application through WebsocketCommunicator."""

from __future__ import annotations

import json
from typing import Any

from channels.testing import WebsocketCommunicator

from tests.signaling.client import ORIGIN
from voiceapp.asgi import application


class LiveClient:
    def __init__(self, cookie: str | None) -> None:
        headers = [(b"origin", ORIGIN.encode()), (b"host", b"127.0.0.1:8000")]
        if cookie:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        self.communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)

    async def open(self) -> dict[str, Any]:
        """Connect; returns the snapshot."""
        connected, _ = await self.communicator.connect()
        assert connected
        return await self.expect("live.snapshot")

    async def send(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def expect(self, message_type: str, wait: float = 10) -> dict[str, Any]:
        message = json.loads(await self.communicator.receive_from(timeout=wait))
        assert message["type"] == message_type, message
        return message

    async def nothing_more(self) -> bool:
        return await self.communicator.receive_nothing(timeout=0.2)

    async def close(self) -> None:
        await self.communicator.disconnect()
