"""Publishing what changed in calls, for the staff Live page. Called after the commit.

Groups (style: per conversation, never one global group filtered in every socket):
- `live.calls`: "conversation N changed" (started, connected, ended). Every staff socket needs
  every one of these, to join or leave that call's group, so none is filtered.
- `live.call.<id>`: the turns each stored batch changed. Only staff sockets join it; the user's
  socket stays in signaling's `call.<id>`, which also carries the presence roll call.
- `call.<id>` (signaling's): `call.staff_end` from live/ending.py, for the socket holding the call.

Publishing never raises: the record is already stored when these run, and a Live page that
missed an update (Redis restarting) reloads everything from the database when it reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

CALLS_GROUP = "live.calls"
_SEND_TIMEOUT = 2.0


def call_group(conversation_id: int) -> str:
    return f"live.call.{conversation_id}"


async def call_changed(conversation_id: int) -> None:
    await publish(CALLS_GROUP, {"type": "live.call", "conversation_id": conversation_id})


async def turns_changed(conversation_id: int, turns: list[dict[str, Any]]) -> None:
    if turns:
        event = {"type": "live.turns", "conversation_id": conversation_id, "turns": turns}
        await publish(call_group(conversation_id), event)


async def publish(group: str, event: dict[str, Any]) -> None:
    # Twice: after a Redis restart each pooled connection fails its first command, then works.
    for attempt in (1, 2):
        try:
            async with asyncio.timeout(_SEND_TIMEOUT):
                await get_channel_layer().group_send(group, event)
            return
        except Exception:
            # Never fail the caller (an unacked batch would be resent forever): log and go on.
            level = logging.WARNING if attempt == 2 else logging.INFO
            logger.log(level, "live update not published", exc_info=True, extra={"group": group})
