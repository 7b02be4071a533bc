"""Text mode: a server-side Realtime WebSocket session that the browser types into.

The browser never talks to the upstream here. The server relays typed messages as
`conversation.item.create` + `response.create`, streams `response.output_text.delta` back, and
records the session's events itself (transport "websocket", mode "text", source "server").

The Live page sees a chat as it sees a call: every change of status is published after it is
stored (`live.broadcast`), and so are the turns of each stored batch (`record_batch`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from conversations import services
from live import broadcast
from signaling import messages
from signaling.messages import ProtocolError
from signaling.relay import record_batch
from upstream import session_config
from upstream.errors import UpstreamError
from upstream.realtime_socket import RealtimeSocket

logger = logging.getLogger(__name__)

SendJson = Callable[[dict[str, Any]], Awaitable[None]]


def user_message(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


class ChatSession:
    """One text conversation: its upstream socket and the task that pumps its events."""

    def __init__(self, conversation_id: int, socket: RealtimeSocket, send_json: SendJson) -> None:
        self.conversation_id = conversation_id
        self._socket = socket
        self._send_json = send_json
        self._closing = False
        self._pump = asyncio.get_running_loop().create_task(self._pump_events())

    @classmethod
    async def open(cls, *, owner: Any, send_json: SendJson) -> ChatSession:
        conversation = await database_sync_to_async(services.start_conversation)(
            owner=owner,
            transport="websocket",
            mode="text",
            model=settings.REALTIME_MODEL,
            voice="",
            instructions=settings.REALTIME_INSTRUCTIONS,
        )
        await broadcast.call_changed(conversation.pk)
        try:
            socket = await RealtimeSocket.open(settings.REALTIME_MODEL)
            config = session_config.build(voice=settings.REALTIME_VOICE, output="text")
            config.pop("model")  # fixed by the URL; session.update may not change it
            await socket.send({"type": "session.update", "session": config})
        except UpstreamError as exc:
            await _fail(conversation.pk, exc)
            raise
        await database_sync_to_async(services.mark_connected)(conversation_id=conversation.pk)
        await broadcast.call_changed(conversation.pk)
        return cls(conversation.pk, socket, send_json)

    @property
    def closed(self) -> bool:
        return self._closing

    async def say(self, text: str) -> None:
        if self._closing:
            raise ProtocolError("no_chat", "This text conversation has ended; start another.")
        await self._socket.send(user_message(text))
        await self._socket.send({"type": "response.create"})

    async def close(self, reason: str) -> None:
        """Close the upstream socket and end the conversation (from any exit path). An end
        recorded earlier (a staff member's, live/ending.py) is kept: the first end wins."""
        if self._closing:
            return
        self._closing = True
        self._pump.cancel()
        await self._socket.close()
        await database_sync_to_async(services.end_conversation)(
            conversation_id=self.conversation_id, reason=reason
        )
        await broadcast.call_changed(self.conversation_id)

    async def _pump_events(self) -> None:
        try:
            async for event in self._socket.events():
                await self._handle(event)
        except Exception:
            # A task's exception would otherwise vanish: log it, then fail the conversation.
            logger.exception("text session pump failed", extra={"id": self.conversation_id})
        if not self._closing:
            self._closing = True
            ended = UpstreamError("upstream_closed", "The text session ended.")
            await _fail(self.conversation_id, ended)
            await self._send_json(
                messages.error(code=ended.code, message=ended.message, fatal=True)
            )

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind in {"response.output_text.delta", "response.text.delta"}:
            delta = event.get("delta")
            if isinstance(delta, str):
                await self._send_json(
                    messages.text_delta(item_id=str(event.get("item_id", "")), delta=delta)
                )
        elif kind in messages.RELAYED_EVENT_TYPES:
            turns = await record_batch(self.conversation_id, [event], source="server")
            if turns:
                await self._send_json(messages.transcript_update(turns=turns))
            if kind == "error":
                await self._send_json(_error_message(event))


def _error_message(event: dict[str, Any]) -> dict[str, Any]:
    # In-session errors leave the session open; the user sees them, the session goes on.
    error = event.get("error") if isinstance(event.get("error"), dict) else {}
    code = str(error.get("code") or "upstream_error")[:64]
    return messages.error(
        code=code, message="The voice service reported a problem with the last message."
    )


async def _fail(conversation_id: int, exc: UpstreamError) -> None:
    await database_sync_to_async(services.fail_conversation)(
        conversation_id=conversation_id, error=f"{exc.code}: {exc.message}"
    )
    await broadcast.call_changed(conversation_id)
