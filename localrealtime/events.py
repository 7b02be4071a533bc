"""Builders for the server events and items the session core emits, and the usage rule.

Usage is counted with a stated, simple rule (the engine has no tokenizer):
text = one token per 4 characters (rounded up); user audio = one token per 100 ms;
assistant audio = one token per 50 ms. Those are OpenAI's published audio rates.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from localrealtime.errors import error_body

TEXT_CHARS_PER_TOKEN = 4
INPUT_AUDIO_MS_PER_TOKEN = 100
OUTPUT_AUDIO_MS_PER_TOKEN = 50


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12).replace('-', 'x').replace('_', 'y')}"


def event(type: str, **fields: Any) -> dict[str, Any]:
    return {"type": type, "event_id": new_id("event"), **fields}


def error_event(
    message: str, *, code: str, param: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    body = error_body(message, code=code, param=param)["error"]
    return event("error", error={**body, "event_id": event_id})


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / TEXT_CHARS_PER_TOKEN)


def user_audio_item(item_id: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }


def assistant_item(item_id: str, status: str, part: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [part] if part else [],
    }


def usage(*, input_text: int, input_audio: int, output_text: int, output_audio: int) -> dict:
    return {
        "total_tokens": input_text + input_audio + output_text + output_audio,
        "input_tokens": input_text + input_audio,
        "output_tokens": output_text + output_audio,
        "input_token_details": {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }


def response_object(
    response_id: str,
    status: str,
    *,
    modalities: list[str],
    output: list[dict],
    usage: dict | None,
    reason: str | None = None,
) -> dict[str, Any]:
    details = {"type": status, "reason": reason} if reason else None
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": details,
        "output": output,
        "conversation_id": None,
        "output_modalities": modalities,
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}},
        "usage": usage,
        "metadata": None,
    }
