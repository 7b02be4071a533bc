"""Attaching to a brokered call's event stream: `wss …/realtime?call_id=…` with the server key.

Built on the upstream client's `RealtimeSocket` (same headers, limits and parsing). The sideband
gets no `session.created` on attach, so attaching sends a `session.update` that changes nothing
and waits for `session.updated`; a call the upstream does not know is refused with an `error`
event (`call_id_not_found`) and a close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlencode

import websockets
from django.conf import settings
from websockets.asyncio.client import connect

from upstream.errors import UpstreamError, for_status
from upstream.realtime import auth_headers
from upstream.realtime_socket import MAX_EVENT_BYTES, RealtimeSocket

logger = logging.getLogger(__name__)

# Close codes that mean the call is over upstream (normal end, session over, a refusal); any
# other close (1006 no close frame, 1011, 1012…) is a lost connection worth re-attaching.
_ENDED_CODES = {1000, 1001}
_REFUSAL_CODES = range(4000, 5000)


class CallGone(Exception):
    """The upstream does not know the call (any more): it has ended."""


def sideband_url(call_id: str) -> str:
    scheme, rest = settings.OPENAI_BASE_URL.split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest}/realtime?{urlencode({'call_id': call_id})}"


class SidebandSocket(RealtimeSocket):
    """A `RealtimeSocket` on a call, which also says how its connection ended."""

    @classmethod
    async def attach(cls, call_id: str) -> tuple[SidebandSocket, list[dict[str, Any]]]:
        """Attach; return the socket and the events received up to `session.updated`."""
        socket = cls(await _connect(call_id))
        try:
            # A refused attach may be closing already: reading, not sending, says why.
            with contextlib.suppress(UpstreamError):
                await socket.send({"type": "session.update", "session": {"type": "realtime"}})
            async with asyncio.timeout(settings.REALTIME_HTTP_TIMEOUT):
                return socket, await socket._until_updated()
        except TimeoutError as exc:
            await socket.close()
            raise UpstreamError("upstream_timeout", "The call's sideband did not attach.") from exc
        except (CallGone, UpstreamError):
            await socket.close()
            raise

    async def _until_updated(self) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        async for event in self.events():
            received.append(event)
            if event["type"] == "session.updated":
                return received
            if event["type"] == "error" and _error_code(event) == "call_id_not_found":
                raise CallGone(_error_code(event))
        if self.ended_upstream:
            raise CallGone(f"closed with {self.close_code}")
        raise UpstreamError("upstream_closed", "The call's sideband closed while attaching.")

    @property
    def close_code(self) -> int | None:
        return self._connection.close_code

    @property
    def ended_upstream(self) -> bool:
        code = self.close_code
        return code in _ENDED_CODES or (code is not None and code in _REFUSAL_CODES)


async def _connect(call_id: str) -> Any:
    try:
        return await connect(
            sideband_url(call_id),
            additional_headers=auth_headers(settings.REALTIME_API_KEY),
            open_timeout=settings.REALTIME_HTTP_TIMEOUT,
            max_size=MAX_EVENT_BYTES,
        )
    except websockets.InvalidStatus as exc:
        if exc.response.status_code == 404:
            raise CallGone("404") from exc
        raise for_status(exc.response.status_code) from exc
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        logger.warning("sideband connect failed", extra={"error": repr(exc)})
        raise UpstreamError("upstream_unreachable", "The voice service cannot be reached.") from exc


def _error_code(event: dict[str, Any]) -> str:
    error = event.get("error")
    return str(error.get("code", "")) if isinstance(error, dict) else ""
