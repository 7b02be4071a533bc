"""Publishing what changed in calls, for the staff Live page. Called after the commit.

Groups (style: per conversation, never one global group filtered in every socket):
- `live.calls`: "conversation N changed" (started, connected, ended). Every staff socket needs
  every one of these, to join or leave that call's group, so none is filtered.
- `live.call.<id>`: the turns each stored batch changed. Only staff sockets join it; the user's
  socket stays in signaling's `call.<id>`, which also carries the presence roll call.
- `call.<id>` (signaling's): `call.staff_end` from live/ending.py, for the socket holding the call.

Publishing never raises: the record is already stored when these run, and a Live page that
missed an update (Redis restarting) reloads everything from the database when it reconnects.

With the in-memory layer (one process, no REDIS_URL) a group nobody is in is not sent to: that
layer reaches this process only, so its own table is every listener, and its `group_send` walks
every channel and group to expire old messages first (~10% of the process's CPU at 200 calls in
flight with no Live page open, bench.broker). With Redis every publish is sent: knowing the
group is empty would cost a round trip too, and a cached answer could miss a Live page opened
meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

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


def _nobody_listens(layer: BaseChannelLayer, group: str) -> bool:
    """Certain only for the in-memory layer, whose members are all in this process. (A member
    whose membership expired still counts: sending to it is harmless.)"""
    return isinstance(layer, InMemoryChannelLayer) and not layer.groups.get(group)


async def publish(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if _nobody_listens(layer, group):
        return
    # Twice: after a Redis restart each pooled connection fails its first command, then works.
    for attempt in (1, 2):
        try:
            async with asyncio.timeout(_SEND_TIMEOUT):
                await layer.group_send(group, event)
            return
        except Exception:
            # Never fail the caller (an unacked batch would be resent forever): log and go on.
            level = logging.WARNING if attempt == 2 else logging.INFO
            logger.log(level, "live update not published", exc_info=True, extra={"group": group})
