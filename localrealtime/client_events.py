"""Client events as the engine accepts them: size limit, JSON, known types, field checks.

`parse` turns one raw message into a `ClientEvent` or raises `ClientEventError`, which the
session core reports as an OpenAI `error` event while the session stays open.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

# Below daphne's 1 MiB WebSocket cap, so an oversized event gets an error event, not a close.
MAX_EVENT_BYTES = 512 * 1024
TYPES = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
)
ROLES = ("user", "system", "assistant")
TEXT_PARTS = ("input_text", "text", "output_text")


class ClientEventError(ValueError):
    def __init__(self, message: str, *, code: str, param: str | None = None, event_id=None):
        super().__init__(message)
        self.code, self.param, self.event_id = code, param, event_id


@dataclass(frozen=True)
class ClientEvent:
    type: str
    event_id: str | None
    data: dict[str, Any]


def parse(raw: str | bytes) -> ClientEvent:
    if len(raw) > MAX_EVENT_BYTES:
        raise ClientEventError(
            f"Event is larger than the {MAX_EVENT_BYTES} bytes this engine accepts.",
            code="event_too_large",
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClientEventError(f"Invalid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise ClientEventError("An event must be a JSON object.", code="invalid_json")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    if data.get("type") not in TYPES:
        raise ClientEventError(
            f"Invalid value: {data.get('type')!r}. Supported values are: {', '.join(TYPES)}.",
            code="invalid_value",
            param="type",
            event_id=event_id,
        )
    return ClientEvent(data["type"], event_id, data)


def audio_bytes(event: ClientEvent) -> bytes:
    """The PCM16 bytes of an `input_audio_buffer.append`."""
    try:
        pcm = base64.b64decode(event.data.get("audio", ""), validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise _invalid("`audio` must be base64 PCM16.", "audio", event) from exc
    if len(pcm) % 2:
        raise _invalid("`audio` must hold whole 16-bit samples.", "audio", event)
    return pcm


def message_item(event: ClientEvent) -> dict[str, Any]:
    """The item of a `conversation.item.create`; only text messages are supported."""
    item = event.data.get("item")
    if not isinstance(item, dict) or item.get("type", "message") != "message":
        raise _invalid("Only message items are supported.", "item.type", event)
    if item.get("role") not in ROLES:
        raise _invalid("`item.role` must be user, system or assistant.", "item.role", event)
    content = item.get("content")
    if not isinstance(content, list) or not content:
        raise _invalid("`item.content` must be a non-empty list.", "item.content", event)
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in TEXT_PARTS:
            raise _invalid("Only text content parts are supported.", "item.content", event)
        if not isinstance(part.get("text"), str):
            raise _invalid("A text part needs `text`.", "item.content", event)
    return item


def item_text(item: dict[str, Any]) -> str:
    parts = item.get("content") or []
    return " ".join(part.get("text") or part.get("transcript") or "" for part in parts).strip()


def _invalid(message: str, param: str, event: ClientEvent) -> ClientEventError:
    return ClientEventError(message, code="invalid_value", param=param, event_id=event.event_id)
