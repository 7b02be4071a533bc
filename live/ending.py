"""A staff member ends someone's call or text chat, from whichever process serves them.

A voice call is hung up upstream and recorded here (the call id is in the database), so it ends
even when no socket holds it; then the socket that holds it, in any process, is told. A text
chat's upstream socket lives in its user's process alone: the end is recorded here (who ended
it), and the socket holding the chat closes its upstream socket when told (`call.staff_end`).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from conversations.models import Conversation
from live import broadcast
from live.selectors import OPEN_STATUSES
from signaling import calls, presence

# What the user's page is told (`call.ended`); the record names the staff member.
STAFF_ENDED = "ended_by_staff"


def _open_call(conversation_id: int) -> calls.CallState | None:
    conversation = Conversation.objects.filter(pk=conversation_id, status__in=OPEN_STATUSES).first()
    if conversation is None:
        return None
    return calls.CallState(
        conversation_id=conversation.pk,
        mode=conversation.mode,
        voice=conversation.voice,
        # Blank for a text chat: nothing to hang up over REST.
        call_id=conversation.upstream_call_id,
    )


async def end_by_staff(*, conversation_id: int, staff: Any) -> bool:
    """Hang up (a call), record who ended it, tell the user's socket. False: nothing open."""
    state = await database_sync_to_async(_open_call)(conversation_id)
    if state is None:
        return False
    await calls.end_call(state, f"ended by staff: {staff.get_username()}")
    event = {"type": "call.staff_end", "conversation_id": conversation_id, "reason": STAFF_ENDED}
    await broadcast.publish(presence.group_name(conversation_id), event)
    return True
