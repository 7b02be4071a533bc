"""Turns as the browser sees them: the one JSON shape for acks, resumes and chat updates.

Ordering lives on the server (conversations.transcript orders by the item chain); the browser
only sorts by the `position` given here.
"""

from __future__ import annotations

from typing import Any

_FIELDS = ("item_id", "role", "text", "status", "position")


def turn_payload(turn: Any) -> dict[str, Any]:
    """One turn (a model instance, a dataclass or a dict) as JSON for the browser."""
    if isinstance(turn, dict):
        return {name: turn.get(name) for name in _FIELDS}
    return {name: getattr(turn, name, None) for name in _FIELDS}


def turns_payload(turns: Any) -> list[dict[str, Any]]:
    return [turn_payload(turn) for turn in turns or ()]
