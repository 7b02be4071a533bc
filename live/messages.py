"""The Live socket's protocol (`/ws/live/`, docs/signaling.md "Live socket"): parsed at the edge.

One client message, `call.end`; the server sends the calls in progress and their changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from signaling.messages import CLOSE_UNAUTHENTICATED, ProtocolError

# Signed in, but not staff allowed to view conversations: accepted, then closed with this.
CLOSE_FORBIDDEN = 4403
MAX_FRAME_BYTES = 4096

__all__ = ["CLOSE_FORBIDDEN", "CLOSE_UNAUTHENTICATED", "CallEnd", "ProtocolError", "parse_frame"]


@dataclass(frozen=True)
class CallEnd:
    conversation_id: int


def parse_frame(text_data: str | None) -> CallEnd:
    if text_data is None:
        raise ProtocolError("binary_frame", "Only text frames are accepted.")
    if len(text_data.encode()) > MAX_FRAME_BYTES:
        raise ProtocolError("too_large", f"A message is at most {MAX_FRAME_BYTES} bytes.")
    try:
        message = json.loads(text_data)
    except ValueError as exc:
        raise ProtocolError("invalid_json", "The message is not valid JSON.") from exc
    if not isinstance(message, dict) or message.get("type") != "call.end":
        raise ProtocolError("unknown_type", "Unknown message type.")
    conversation_id = message.get("conversation_id")
    if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
        raise ProtocolError("invalid_field", "`conversation_id` must be an int.")
    return CallEnd(conversation_id)


def snapshot(*, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "live.snapshot", "calls": calls}


def call(*, call: dict[str, Any]) -> dict[str, Any]:
    """A call started, connected or ended (`status` says which), with all its turns."""
    return {"type": "live.call", "call": call}


def turns(*, conversation_id: int, turns: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "live.turns", "conversation_id": conversation_id, "turns": turns}


def error(*, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
