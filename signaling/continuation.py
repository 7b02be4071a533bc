"""Continuing an earlier conversation: its turns seed the new call, and the two are linked.

The seed is a list of `conversation.item.create` events built here, on the server, from the
recorded turns; `call.started` carries it and the page sends it on the data channel as soon as
the channel opens, before anyone speaks. The browser sends it (rather than the server over a
sideband) because that works alike in brokered and direct mode and needs no second upstream
connection per call; the events are the user's own record, so nothing is trusted that was not
already theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import ObjectDoesNotExist

from conversations import selectors
from conversations.models import Conversation, Turn
from signaling.messages import ProtocolError

# The newest turns kept, and a cap on their text, so `call.started` stays well inside a frame.
MAX_SEED_TURNS = 40
MAX_SEED_CHARS = 60_000
_PART_TYPE = {Turn.Role.USER: "input_text", Turn.Role.ASSISTANT: "output_text"}


@dataclass(frozen=True)
class Earlier:
    conversation_id: int
    seed: list[dict[str, Any]] = field(default_factory=list)


def seed_event(role: str, text: str) -> dict[str, Any]:
    content = [{"type": _PART_TYPE[role], "text": text}]
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": role, "content": content},
    }


def seed_events(turns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The newest turns with words, oldest first, within MAX_SEED_TURNS and MAX_SEED_CHARS."""
    kept: list[tuple[str, str]] = []
    chars = 0
    for role, text in reversed([(r, t.strip()) for r, t in turns if t.strip()]):
        chars += len(text)
        if len(kept) == MAX_SEED_TURNS or chars > MAX_SEED_CHARS:
            break
        kept.append((role, text))
    return [seed_event(role, text) for role, text in reversed(kept)]


@database_sync_to_async
def earlier(*, owner: Any, conversation_id: int | None) -> Earlier | None:
    """The owner's earlier conversation with its seed; None when not continuing."""
    if conversation_id is None:
        return None
    try:
        conversation = selectors.conversation_get(user=owner, conversation_id=conversation_id)
    except ObjectDoesNotExist as exc:
        raise ProtocolError("not_found", "There is no such conversation of yours.") from exc
    turns = selectors.conversation_turns(conversation=conversation).values_list("role", "text")
    return Earlier(conversation_id=conversation.pk, seed=seed_events(list(turns)))


@database_sync_to_async
def link(*, conversation_id: int, earlier: Earlier | None) -> None:
    """Record which conversation the new one continues (a single-column update at its start)."""
    if earlier is not None:
        Conversation.objects.filter(pk=conversation_id).update(
            continued_from_id=earlier.conversation_id
        )
