"""Relayed data-channel events and resumed calls: storing batches, reloading a call's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from conversations import selectors, services
from conversations.models import Conversation
from live import broadcast
from signaling.calls import CallState
from signaling.turns import turns_payload


async def record_batch(
    conversation_id: int, events: list[dict[str, Any]], *, source: str = "browser"
) -> list[dict[str, Any]]:
    """Store a batch (idempotently) and return the turns it changed, with their positions."""
    result = await database_sync_to_async(services.record_events)(
        conversation_id=conversation_id, events=events, source=source
    )
    turns = turns_payload(getattr(result, "turns", ()))
    await broadcast.turns_changed(conversation_id, turns)
    return turns


@dataclass(frozen=True)
class Resumed:
    state: CallState
    status: str
    turns: list[dict[str, Any]]


def _load_owned(owner: Any, conversation_id: int) -> Resumed | None:
    try:
        conversation = selectors.conversation_get(user=owner, conversation_id=conversation_id)
    except Conversation.DoesNotExist:
        return None
    if conversation.transport != Conversation.Transport.WEBRTC:
        return None
    state = CallState(
        conversation_id=conversation.pk,
        mode=conversation.mode,
        voice=conversation.voice,
        call_id=conversation.upstream_call_id,
        ended=conversation.status in {Conversation.Status.ENDED, Conversation.Status.FAILED},
    )
    turns = selectors.conversation_turns(conversation=conversation)
    return Resumed(state, conversation.status, turns_payload(turns))


async def resume(*, owner: Any, conversation_id: int) -> Resumed | None:
    """The caller's own voice conversation, or None (someone else's looks the same as none)."""
    return await database_sync_to_async(_load_owned)(owner, conversation_id)
