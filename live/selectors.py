"""What the Live page shows: the conversations in progress (voice calls and text chats), each
with its transcript so far."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from conversations.models import Conversation, Turn
from signaling.turns import turns_payload

OPEN_STATUSES = (Conversation.Status.CONNECTING, Conversation.Status.ACTIVE)


_ORDERED_TURNS = Prefetch("turns", queryset=Turn.objects.order_by("position", "id"))


def _open_calls() -> Any:
    return Conversation.objects.filter(status__in=OPEN_STATUSES)


def open_call_ids() -> list[int]:
    return list(_open_calls().order_by("started_at", "id").values_list("pk", flat=True))


def call_summary(conversation: Conversation) -> dict[str, Any]:
    """Needs the turns prefetched in order (`_ORDERED_TURNS`)."""
    return {
        "conversation_id": conversation.pk,
        "owner": conversation.owner.get_username(),
        "status": conversation.status,
        "mode": conversation.mode,
        "transport": conversation.transport,
        "started_at": conversation.started_at.isoformat(),
        "end_reason": conversation.end_reason,
        "turns": turns_payload(conversation.turns.all()),
    }


def open_calls() -> list[dict[str, Any]]:
    """Every open conversation, oldest first, with its turns."""
    calls = _open_calls().select_related("owner").prefetch_related(_ORDERED_TURNS)
    return [call_summary(c) for c in calls.order_by("started_at", "id")]


def call_state(conversation_id: int) -> dict[str, Any] | None:
    """One conversation as the page shows it (ended ones too), or None: no such id."""
    found = (
        Conversation.objects.select_related("owner")
        .prefetch_related(_ORDERED_TURNS)
        .filter(pk=conversation_id)
    )
    conversation = found.first()
    return call_summary(conversation) if conversation is not None else None


def is_open(call: dict[str, Any]) -> bool:
    return call["status"] in OPEN_STATUSES
