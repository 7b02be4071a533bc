"""Attaching to a brokered call's event stream: `wss …/realtime?call_id=…` with the server key.

Built on the upstream client's `RealtimeSocket` (same headers, limits and parsing). The sideband
gets no `session.created` on attach, so attaching sends a `session.update` that changes nothing
and waits for `session.updated`; a call the upstream does not know is refused with an `error`
event (`call_id_not_found`) and a close.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.conf import settings

from upstream.errors import UpstreamError
from upstream.realtime_socket import RealtimeSocket

# Close codes that mean the call is over upstream (normal end, session over, a refusal); any
# other close (1006 no close frame, 1011, 1012…) is a lost connection worth re-attaching.
_ENDED_CODES = {1000, 1001}
_REFUSAL_CODES = range(4000, 5000)


class CallGone(Exception):
    """The upstream does not know the call (any more): it has ended."""


class SidebandSocket(RealtimeSocket):
    """A `RealtimeSocket` on a call, which also says how its connection ended."""

    @classmethod
    async def attach(cls, call_id: str) -> tuple[SidebandSocket, list[dict[str, Any]]]:
        """Attach; return the socket and the events received up to `session.updated`."""
        try:
            socket = await cls.open_sideband(call_id)
        except UpstreamError as exc:
            if exc.status == 404:
                raise CallGone("404") from exc
            raise
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
    def ended_upstream(self) -> bool:
        code = self.close_code
        return code in _ENDED_CODES or (code is not None and code in _REFUSAL_CODES)


def _error_code(event: dict[str, Any]) -> str:
    error = event.get("error")
    return str(error.get("code", "")) if isinstance(error, dict) else ""
