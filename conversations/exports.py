"""Conversations as downloadable records: JSON (everything) and plain-text transcripts.

Pure functions of conversations whose turns and usage rows are prefetched
(`Conversation.objects.with_record()`): they query nothing themselves and yield the download in
pieces, one conversation at a time, so a large selection never has to sit in memory whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from conversations.models import Conversation

_FIELDS = (
    "id",
    "status",
    "transport",
    "mode",
    "model",
    "voice",
    "instructions",
    "upstream_session_id",
    "upstream_call_id",
    "started_at",
    "ended_at",
    "end_reason",
    "error",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "total_tokens",
    "turn_count",
)
_TURN_FIELDS = ("position", "item_id", "previous_item_id", "role", "text", "status", "source")
_LABELS = {"user": "You", "assistant": "Assistant"}


def _isoformat(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def conversation_record(conversation: Conversation) -> dict[str, Any]:
    """One conversation with its ordered turns and each response's raw usage."""
    record = {name: _isoformat(getattr(conversation, name)) for name in _FIELDS}
    record["owner"] = conversation.owner.get_username()
    record["turns"] = [
        {name: getattr(turn, name) for name in _TURN_FIELDS}
        | {"response_id": turn.response_id, "completed_at": _isoformat(turn.completed_at)}
        for turn in conversation.turns.all()
    ]
    record["responses"] = [
        {"response_id": r.response_id, "status": r.status, "usage": r.usage}
        for r in conversation.responses.all()
    ]
    return record


def iter_json(conversations: Iterable[Conversation]) -> Iterator[str]:
    """A JSON array of `conversation_record`s, yielded one conversation at a time."""
    separator = "[\n"
    for conversation in conversations:
        yield separator + json.dumps(conversation_record(conversation), ensure_ascii=False)
        separator = ",\n"
    yield "[]\n" if separator == "[\n" else "\n]\n"


def transcript_text(conversation: Conversation) -> str:
    """A readable transcript: a heading, then one paragraph per turn in conversation order."""
    started = conversation.started_at.strftime("%Y-%m-%d %H:%M %Z").strip()
    lines = [
        f"Conversation {conversation.pk} — {conversation.owner.get_username()}, {started}",
        f"{conversation.model}, voice {conversation.voice or '-'}, {conversation.status}",
        "",
    ]
    for turn in conversation.turns.all():
        flag = f" [{turn.status}]" if turn.status != "completed" else ""
        lines.append(f"{_LABELS.get(turn.role, turn.role)}{flag}: {turn.text}")
    return "\n".join(lines) + "\n"


def iter_text(conversations: Iterable[Conversation]) -> Iterator[str]:
    """Transcripts one after another, separated by a rule."""
    for index, conversation in enumerate(conversations):
        yield ("\n" + "-" * 72 + "\n\n" if index else "") + transcript_text(conversation)
