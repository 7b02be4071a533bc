"""Server-side Realtime WebSocket sessions (text mode), with the server key in a header.

A thin shell over the `websockets` client: it connects, sends and yields parsed events. What the
events mean is decided by the caller.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Self
from urllib.parse import urlencode

import websockets
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect

from upstream.errors import UpstreamError, for_status
from upstream.realtime import auth_headers

logger = logging.getLogger(__name__)

MAX_EVENT_BYTES = 1024 * 1024


def socket_url(**query: str) -> str:
    """`…/realtime?model=…` (a session) or `…/realtime?call_id=…` (a call's sideband)."""
    scheme, rest = settings.OPENAI_BASE_URL.split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest}/realtime?{urlencode(query)}"


class RealtimeSocket:
    """One upstream session: `await RealtimeSocket.open(model)`, then send, events, close."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, model: str) -> Self:
        """A new session on `model`."""
        return cls(await _connect(socket_url(model=model)))

    @classmethod
    async def open_sideband(cls, call_id: str) -> Self:
        """The event stream of an existing call (server key only; 404 for an unknown call)."""
        return cls(await _connect(socket_url(call_id=call_id)))

    @property
    def close_code(self) -> int | None:
        """How the upstream closed the socket (None while it is open)."""
        return self._connection.close_code

    async def send(self, event: dict[str, Any]) -> None:
        try:
            await self._connection.send(json.dumps(event))
        except websockets.ConnectionClosed as exc:
            raise UpstreamError("upstream_closed", "The text session has ended.") from exc

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Yield upstream events until the session closes; skip frames that are not objects."""
        try:
            async for frame in self._connection:
                event = _parse(frame)
                if event is not None:
                    yield event
        except websockets.ConnectionClosedError as exc:
            logger.info(
                "upstream socket closed", extra={"code": exc.rcvd.code if exc.rcvd else None}
            )

    async def close(self) -> None:
        await self._connection.close()


async def _connect(url: str) -> ClientConnection:
    try:
        return await connect(
            url,
            additional_headers=auth_headers(settings.REALTIME_API_KEY),
            open_timeout=settings.REALTIME_HTTP_TIMEOUT,
            max_size=MAX_EVENT_BYTES,
        )
    except websockets.InvalidStatus as exc:
        raise for_status(exc.response.status_code) from exc
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        logger.warning("upstream socket failed", extra={"error": repr(exc)})
        raise UpstreamError("upstream_unreachable", "The voice service cannot be reached.") from exc


def _parse(frame: str | bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(frame)
    except ValueError:
        logger.warning("upstream sent a non-JSON frame")
        return None
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None
