"""Builders for Realtime server events as they arrive on the wire (GA names unless stated).

Shared by the core's tests and the services' tests so both feed the same shapes.
"""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)


def _event(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "event_id": f"event_{next(_ids)}", **fields}


def session_created(session_id: str = "sess_1") -> dict[str, Any]:
    return _event("session.created", session={"id": session_id, "type": "realtime"})


def committed(item_id: str, previous: str | None) -> dict[str, Any]:
    return _event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous)


def item_added(
    item_id: str, previous: str | None, role: str = "user", *, name: str = "conversation.item.added"
) -> dict[str, Any]:
    item = {"id": item_id, "type": "message", "role": role, "content": []}
    return _event(name, item=item, previous_item_id=previous)


def typed_message(item_id: str, previous: str | None, text: str) -> dict[str, Any]:
    item = {
        "id": item_id,
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": text}],
    }
    return _event("conversation.item.done", item=item, previous_item_id=previous)


def user_transcript(item_id: str, transcript: str) -> dict[str, Any]:
    return _event(
        "conversation.item.input_audio_transcription.completed",
        item_id=item_id,
        content_index=0,
        transcript=transcript,
    )


def user_transcript_failed(item_id: str) -> dict[str, Any]:
    return _event(
        "conversation.item.input_audio_transcription.failed",
        item_id=item_id,
        content_index=0,
        error={"type": "transcription_error", "message": "audio unintelligible"},
    )


def assistant_transcript(
    item_id: str,
    transcript: str,
    response_id: str = "resp_1",
    *,
    name: str = "response.output_audio_transcript.done",
) -> dict[str, Any]:
    return _event(
        name,
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        transcript=transcript,
    )


def assistant_text(
    item_id: str, text: str, response_id: str = "resp_1", *, name: str = "response.output_text.done"
) -> dict[str, Any]:
    return _event(
        name, response_id=response_id, item_id=item_id, output_index=0, content_index=0, text=text
    )


def usage(input_tokens: int, output_tokens: int, cached: int = 0) -> dict[str, Any]:
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": 0,
            "audio_tokens": input_tokens,
            "cached_tokens": cached,
        },
        "output_token_details": {"text_tokens": 0, "audio_tokens": output_tokens},
    }


def response_done(
    response_id: str,
    *,
    status: str = "completed",
    output: list[dict[str, Any]] | None = None,
    usage_object: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response = {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "output": output or [],
        "usage": usage_object if usage_object is not None else usage(100, 20),
    }
    return _event("response.done", response=response)


def output_message(
    item_id: str, transcript: str | None, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_audio", "transcript": transcript}],
    }


def truncated(item_id: str, **extra: Any) -> dict[str, Any]:
    return _event(
        "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=1500, **extra
    )


def exchange(
    user_item: str, assistant_item: str, previous: str | None, words: str, reply: str, response: str
) -> list[dict[str, Any]]:
    """One spoken exchange as it really arrives: the reply starts before the user transcript."""
    return [
        committed(user_item, previous),
        item_added(user_item, previous),
        item_added(assistant_item, user_item, "assistant"),
        assistant_transcript(assistant_item, reply, response),
        user_transcript(user_item, words),
        response_done(response, output=[output_message(assistant_item, reply)]),
    ]
