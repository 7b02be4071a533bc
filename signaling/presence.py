"""Keeping a voice call alive across a dropped signaling socket.

The WebRTC call does not depend on the socket, so a drop must not hang it up at once. The socket
that held the call leaves a watcher behind; after RESUME_GRACE_SECONDS it asks the call's group
(through the channel layer, so the resuming socket may live in another process) whether anyone
holds the call now. If nobody answers, the call is hung up and the conversation ended.
"""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer

from signaling import messages
from signaling.calls import CallState, end_call

logger = logging.getLogger(__name__)

_ANSWER_TIMEOUT = 2.0
_watchers: set[asyncio.Task[None]] = set()


def group_name(conversation_id: int) -> str:
    return f"call.{conversation_id}"


async def is_held(conversation_id: int) -> bool:
    """True when a socket in the call's group answers the roll call."""
    layer = get_channel_layer()
    reply_to = await layer.new_channel()
    await layer.group_send(
        group_name(conversation_id), {"type": "call.presence", "reply_to": reply_to}
    )
    try:
        async with asyncio.timeout(_ANSWER_TIMEOUT):
            await layer.receive(reply_to)
    except TimeoutError:
        return False
    return True


async def _end_unless_resumed(state: CallState) -> None:
    await asyncio.sleep(messages.RESUME_GRACE_SECONDS)
    if await is_held(state.conversation_id):
        return
    logger.info("call abandoned", extra={"conversation_id": state.conversation_id})
    await end_call(state, "disconnected")


def watch_abandoned(state: CallState) -> None:
    """End the call later unless a socket resumes it (the task is kept referenced until done)."""
    task = asyncio.get_running_loop().create_task(_end_unless_resumed(state))
    _watchers.add(task)
    task.add_done_callback(_watchers.discard)
