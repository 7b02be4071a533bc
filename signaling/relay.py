"""Relayed data-channel events and resumed calls: storing batches, reloading a call's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from conversations import selectors, services
from conversations.models import Conversation
from live import broadcast
from signaling import writer
from signaling.calls import CallState
from signaling.turns import turns_payload

Recording = services.Recording


def recording_for(conversation_id: int, kept: Recording | None) -> Recording:
    """The record a socket keeps of its call between batches: `kept` while it is this call's,
    else a new one (read from the database with the first batch)."""
    if kept is not None and kept.conversation_id == conversation_id:
        return kept
    return Recording(conversation_id, "browser")


async def record_batch(
    conversation_id: int,
    events: list[dict[str, Any]],
    *,
    source: str = "browser",
    recording: Recording | None = None,
) -> list[dict[str, Any]]:
    """Store a batch (idempotently) and return the turns it changed, with their positions.
    Returns only after the commit (shared with the batches written alongside it)."""
    batch = services.Batch(conversation_id, events, source, recording)
    result = await writer.writer().write(batch)
    turns = turns_payload(result.turns)
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
