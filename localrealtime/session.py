"""The sans-I/O session core: client events and audio-derived facts in, server events out.

`RealtimeSession` holds one session's conversation (the item chain), its configuration and the
response in progress. It owns no socket, no clock and no audio: transports feed it what
happened (a client event, speech started, a transcript, how far playback got) and carry out the
*effects* it returns beside the server events (transcribe this, speak that, stop playback).
The responses themselves are built by `localrealtime.responses`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localrealtime import client_events, config
from localrealtime.client_events import ClientEvent, ClientEventError
from localrealtime.events import error_event, event, new_id, text_tokens, user_audio_item
from localrealtime.responses import ResponseBook


@dataclass(frozen=True)
class Transcribe:
    """Decode the audio just committed as `item_id` and report it with `transcribed`."""

    item_id: str


@dataclass(frozen=True)
class AppendAudio:
    pcm16_24k: bytes


@dataclass(frozen=True)
class ClearAudio:
    pass


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


Output = dict[str, Any] | object
# OpenAI closes with 1008 (refused) and 1001 (session over); daphne's WebSocket library lets a
# server send only 1000 or 3000-4999, so refusals use 4008 and the end of a session 1000.
REFUSAL_CLOSE_CODE = 4008


class RealtimeSession:
    def __init__(self, *, session: dict[str, Any], transport: str) -> None:
        """`transport` is "webrtc" (audio on a track) or "websocket" (audio in events)."""
        self.session = session
        self.responses = ResponseBook(self, webrtc=transport == "webrtc")
        self._last_item_id: str | None = None
        self._items: dict[str, dict[str, Any]] = {}
        self._audio_ms: dict[str, int] = {}
        self._pending_transcripts: set[str] = set()
        self._speech_item: tuple[str, int] | None = None
        self._buffered_ms = 0

    # --- what transports call ----------------------------------------------------------------
    def start(self) -> list[Output]:
        return [event("session.created", session=self.session)]

    def receive(self, raw: str | bytes, now: datetime) -> list[Output]:
        try:
            client_event = client_events.parse(raw)
            return self._HANDLERS[client_event.type](self, client_event, now)
        except ClientEventError as exc:
            return [error_event(str(exc), code=exc.code, param=exc.param, event_id=exc.event_id)]
        except config.ConfigError as exc:
            out: list[Output] = [error_event(str(exc), code=exc.code, param=exc.param)]
            if exc.code == "beta_api_shape_disabled":
                out.append(Close(REFUSAL_CLOSE_CODE, "beta_api_shape_disabled"))
            return out

    def audio_received(self, ms: int) -> None:
        self._buffered_ms += ms

    def speech_started(self, audio_start_ms: int) -> list[Output]:
        item_id = new_id("item")
        self._speech_item = (item_id, audio_start_ms)
        started = event("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms)
        out: list[Output] = [{**started, "item_id": item_id}]
        if self.turn_detection and self.turn_detection.get("interrupt_response", True):
            out += self.responses.interrupt("turn_detected")
        return out

    def speech_stopped(self, audio_end_ms: int) -> list[Output]:
        item_id, start_ms = self._speech_item or (new_id("item"), 0)
        self._speech_item = None
        stopped = event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms)
        stopped["item_id"] = item_id
        return [stopped, *self._commit(item_id, audio_end_ms - start_ms)]

    def transcribed(self, item_id: str, transcript: str, now: datetime) -> list[Output]:
        self._pending_transcripts.discard(item_id)
        self._items[item_id]["content"][0]["transcript"] = transcript
        out: list[Output] = []
        if self.session["audio"]["input"]["transcription"]:
            seconds = round(self._audio_ms.get(item_id, 0) / 1000, 3)
            out.append(
                event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=transcript,
                    usage={"type": "duration", "seconds": seconds},
                )
            )
        return out + self.responses.start_deferred(now)

    def transcription_failed(self, item_id: str, message: str, now: datetime) -> list[Output]:
        self._pending_transcripts.discard(item_id)
        failed = event(
            "conversation.item.input_audio_transcription.failed",
            item_id=item_id,
            content_index=0,
            error={"type": "server_error", "code": "busy", "message": message, "param": None},
        )
        return [failed, *self.responses.start_deferred(now)]

    def expire(self) -> list[Output]:
        message = "Your session hit the maximum duration."
        return [error_event(message, code="session_expired"), Close(1000, "session_expired")]

    # --- what `ResponseBook` reads -------------------------------------------------------------
    @property
    def turn_detection(self) -> dict[str, Any] | None:
        return self.session["audio"]["input"]["turn_detection"]

    @property
    def transcripts_pending(self) -> bool:
        return bool(self._pending_transcripts)

    def last_user_text(self) -> str:
        for item in reversed(list(self._items.values())):
            if item.get("role") == "user":
                return client_events.item_text(item)
        return ""

    def context_tokens(self) -> tuple[int, int]:
        """(text, audio) input tokens of the conversation so far plus the instructions."""
        text = text_tokens(self.session.get("instructions") or "")
        text += sum(
            text_tokens(client_events.item_text(item))
            for item in self._items.values()
            if item["id"] not in self._audio_ms
        )
        audio = sum(ms // 100 for ms in self._audio_ms.values())
        return text, audio

    def add_item(self, item: dict[str, Any]) -> str | None:
        """Append `item` to the conversation; returns the previous item's id."""
        previous, self._last_item_id = self._last_item_id, item["id"]
        self._items[item["id"]] = item
        return previous

    # --- client event handlers --------------------------------------------------------------
    def _session_update(self, client_event: ClientEvent, _: datetime) -> list[Output]:
        self.session = config.merged(self.session, client_event.data.get("session") or {})
        return [event("session.updated", session=self.session)]

    def _append(self, client_event: ClientEvent, _: datetime) -> list[Output]:
        return [AppendAudio(client_events.audio_bytes(client_event))]

    def _commit_event(self, client_event: ClientEvent, _: datetime) -> list[Output]:
        if self._buffered_ms < 100:
            raise ClientEventError(
                "Error committing input audio buffer: the buffer holds less than 100 ms of audio.",
                code="input_audio_buffer_commit_empty",
                event_id=client_event.event_id,
            )
        item_id = self._speech_item[0] if self._speech_item else new_id("item")
        self._speech_item = None
        return self._commit(item_id, self._buffered_ms)

    def _clear(self, _: ClientEvent, __: datetime) -> list[Output]:
        self._buffered_ms, self._speech_item = 0, None
        return [ClearAudio(), event("input_audio_buffer.cleared")]

    def _item_create(self, client_event: ClientEvent, _: datetime) -> list[Output]:
        item = dict(client_events.message_item(client_event))
        item.update(id=item.get("id") or new_id("item"), object="realtime.item", type="message")
        item["status"] = "completed"
        previous = self.add_item(item)
        return [
            event("conversation.item.added", previous_item_id=previous, item=item),
            event("conversation.item.done", previous_item_id=previous, item=item),
        ]

    def _item_delete(self, client_event: ClientEvent, _: datetime) -> list[Output]:
        item_id = client_event.data.get("item_id")
        if self._items.pop(item_id, None) is None:
            raise ClientEventError(
                f"Item with item_id '{item_id}' not found.",
                code="item_not_found",
                param="item_id",
                event_id=client_event.event_id,
            )
        return [event("conversation.item.deleted", item_id=item_id)]

    def _response_create(self, client_event: ClientEvent, now: datetime) -> list[Output]:
        params = client_event.data.get("response") or {}
        if not isinstance(params, dict):
            raise ClientEventError(
                "`response` must be an object.",
                code="invalid_value",
                param="response",
                event_id=client_event.event_id,
            )
        if self.responses.busy:
            raise ClientEventError(
                "Conversation already has an active response in progress.",
                code="conversation_already_has_active_response",
                event_id=client_event.event_id,
            )
        return self.responses.create(params, now)

    def _response_cancel(self, client_event: ClientEvent, _: datetime) -> list[Output]:
        out = self.responses.interrupt("client_cancelled")
        if not out:
            raise ClientEventError(
                "Cancellation failed: no active response found.",
                code="response_cancel_not_active",
                event_id=client_event.event_id,
            )
        return out

    def _output_clear(self, client_event: ClientEvent, _: datetime) -> list[Output]:
        return self.responses.interrupt("client_cancelled", clear=True)

    _HANDLERS = {
        "session.update": _session_update,
        "input_audio_buffer.append": _append,
        "input_audio_buffer.commit": _commit_event,
        "input_audio_buffer.clear": _clear,
        "conversation.item.create": _item_create,
        "conversation.item.delete": _item_delete,
        "response.create": _response_create,
        "response.cancel": _response_cancel,
        "output_audio_buffer.clear": _output_clear,
    }

    def _commit(self, item_id: str, audio_ms: int) -> list[Output]:
        self._buffered_ms = 0
        item = user_audio_item(item_id)
        previous = self.add_item(item)
        self._audio_ms[item_id] = max(audio_ms, 0)
        self._pending_transcripts.add(item_id)
        out: list[Output] = [
            event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
            event("conversation.item.added", previous_item_id=previous, item=item),
            event("conversation.item.done", previous_item_id=previous, item=item),
            Transcribe(item_id),
        ]
        if self.turn_detection and self.turn_detection.get("create_response", True):
            self.responses.defer({})
        return out
