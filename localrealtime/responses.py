"""Responses of the session core: created, spoken (or written), finished or cut short.

Part of the sans-I/O core (see `session.py`). On WebRTC the assistant's transcript advances
with playback, as the transport reports it, so a reply cut short by barge-in ends with exactly
the words that were played; on a WebSocket the whole reply is sent at once, as audio deltas.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from localrealtime import responder
from localrealtime.events import (
    OUTPUT_AUDIO_MS_PER_TOKEN,
    assistant_item,
    event,
    new_id,
    response_object,
    text_tokens,
    usage,
)

if TYPE_CHECKING:
    from localrealtime.session import RealtimeSession

# 24 kHz PCM16: 200 ms of audio per `response.output_audio.delta`.
AUDIO_DELTA_BYTES = 24000 * 2 // 5


@dataclass(frozen=True)
class Speak:
    """Synthesize `text`, then report it with `speech_ready`."""

    response_id: str
    text: str
    voice: str


@dataclass(frozen=True)
class Play:
    """Play the synthesized reply on the call's track, reporting progress as it goes."""

    response_id: str


@dataclass(frozen=True)
class StopPlayback:
    """Cut the reply short now and report how much was played with `playback_stopped`."""

    response_id: str


@dataclass
class Response:
    id: str
    item: dict[str, Any]
    text: str
    modalities: list[str]
    words: list[tuple[int, int]] = field(default_factory=list)
    emitted_chars: int = 0
    playing: bool = False
    stop_reason: str | None = None
    previous_item_id: str | None = None

    @property
    def audio(self) -> bool:
        return "audio" in self.modalities

    def ids(self) -> dict[str, Any]:
        return {
            "response_id": self.id,
            "item_id": self.item["id"],
            "output_index": 0,
            "content_index": 0,
        }

    def part(self, text: str) -> dict[str, Any]:
        if self.audio:
            return {"type": "output_audio", "transcript": text}
        return {"type": "output_text", "text": text}


class ResponseBook:
    def __init__(self, session: RealtimeSession, *, webrtc: bool) -> None:
        self._session, self._webrtc = session, webrtc
        self.active: Response | None = None
        self._deferred: dict[str, Any] | None = None

    @property
    def busy(self) -> bool:
        return self.active is not None or self._deferred is not None

    def defer(self, params: dict[str, Any]) -> None:
        self._deferred = params

    def start_deferred(self, now: datetime) -> list[Any]:
        if self._deferred is None or self._session.transcripts_pending or self.active:
            return []
        params, self._deferred = self._deferred, None
        return self.create(params, now)

    def create(self, params: dict[str, Any], now: datetime) -> list[Any]:
        """Start a response, or defer it until the user's words are transcribed."""
        if self._session.transcripts_pending:
            self._deferred = params
            return []
        session = self._session.session
        modalities = params.get("output_modalities") or session["output_modalities"]
        item = assistant_item(new_id("item"), "in_progress", None)
        instructions = params.get("instructions") or session.get("instructions") or ""
        reply = responder.reply(self._session.last_user_text(), now, instructions)
        self.active = response = Response(new_id("resp"), item, reply, list(modalities))
        out: list[Any] = self._created(response)
        if not response.audio:
            return out + self._text_deltas(response) + self._finish(response, "completed")
        voice = session["audio"]["output"]["voice"]
        return [*out, Speak(response.id, reply, voice)]

    def _created(self, response: Response) -> list[Any]:
        response.previous_item_id = previous = self._session.add_item(response.item)
        created = response_object(
            response.id, "in_progress", modalities=response.modalities, output=[], usage=None
        )
        item = dict(response.item)
        return [
            event("response.created", response=created),
            event("response.output_item.added", response_id=response.id, output_index=0, item=item),
            event("conversation.item.added", previous_item_id=previous, item=item),
            event("response.content_part.added", **response.ids(), part=response.part("")),
        ]

    def _text_deltas(self, response: Response) -> list[Any]:
        kind = f"response.output_{'audio_transcript' if response.audio else 'text'}.delta"
        pieces = re.findall(r"\S+\s*", response.text[response.emitted_chars :])
        response.emitted_chars = len(response.text)
        return [event(kind, **response.ids(), delta=piece) for piece in pieces]

    # --- facts reported by the transport -------------------------------------------------------
    def speech_ready(
        self, response_id: str, words: list[tuple[int, int]], duration_ms: int, pcm16_24k: bytes
    ) -> list[Any]:
        response = self._current(response_id)
        if response is None:
            return []
        response.words = words
        if self._webrtc:
            response.playing = True
            return [Play(response_id)]
        deltas = [
            event(
                "response.output_audio.delta",
                **response.ids(),
                delta=base64.b64encode(pcm16_24k[i : i + AUDIO_DELTA_BYTES]).decode(),
            )
            for i in range(0, len(pcm16_24k), AUDIO_DELTA_BYTES)
        ]
        transcript = self._text_deltas(response)
        return deltas + transcript + self._finish(response, "completed", duration_ms)

    def playback_started(self, response_id: str) -> list[Any]:
        return [event("output_audio_buffer.started", response_id=response_id)]

    def playback_progress(self, response_id: str, played_ms: int) -> list[Any]:
        response = self._current(response_id)
        if response is None:
            return []
        ends = [end for start, end in response.words if start <= played_ms]
        if not ends or ends[-1] <= response.emitted_chars:
            return []
        delta, response.emitted_chars = response.text[response.emitted_chars : ends[-1]], ends[-1]
        return [event("response.output_audio_transcript.delta", **response.ids(), delta=delta)]

    def playback_finished(self, response_id: str, played_ms: int) -> list[Any]:
        response = self._current(response_id)
        if response is None:
            return []
        out = self._text_deltas(response) + self._finish(response, "completed", played_ms)
        return [*out, event("output_audio_buffer.stopped", response_id=response_id)]

    def playback_stopped(self, response_id: str, played_ms: int) -> list[Any]:
        response = self._current(response_id)
        if response is None:
            return []
        truncated = event(
            "conversation.item.truncated",
            item_id=response.item["id"],
            content_index=0,
            audio_end_ms=played_ms,
        )
        out = [truncated, event("output_audio_buffer.cleared", response_id=response_id)]
        out += self.playback_progress(response_id, played_ms)
        out += self._finish(response, "cancelled", played_ms, reason=response.stop_reason)
        return out

    def interrupt(self, reason: str, *, clear: bool = False) -> list[Any]:
        """Barge-in, `response.cancel` or `output_audio_buffer.clear`."""
        self._deferred = None
        response = self.active
        if response is None:
            return [event("output_audio_buffer.cleared", response_id=None)] if clear else []
        if response.playing:
            response.stop_reason = reason
            return [StopPlayback(response.id)]
        return self._finish(response, "cancelled", 0, reason=reason)

    # --- the end of a response ---------------------------------------------------------------
    def _current(self, response_id: str) -> Response | None:
        active = self.active
        return active if active is not None and active.id == response_id else None

    def _finish(
        self, response: Response, status: str, played_ms: int = 0, *, reason: str | None = None
    ) -> list[Any]:
        self.active = None
        spoken = response.text[: response.emitted_chars]
        totals = self._usage(response, spoken, played_ms)
        part = response.part(spoken)
        response.item.update(
            status="completed" if status == "completed" else "incomplete", content=[part]
        )
        item = dict(response.item)
        done = response_object(
            response.id,
            status,
            modalities=response.modalities,
            output=[item],
            usage=totals,
            reason=reason,
        )
        return [
            *self._content_done(response, spoken),
            event("response.content_part.done", **response.ids(), part=part),
            event("response.output_item.done", response_id=response.id, output_index=0, item=item),
            event("conversation.item.done", previous_item_id=response.previous_item_id, item=item),
            event("response.done", response=done),
        ]

    def _content_done(self, response: Response, spoken: str) -> list[dict[str, Any]]:
        if not response.audio:
            return [event("response.output_text.done", **response.ids(), text=spoken)]
        return [
            event("response.output_audio.done", **response.ids()),
            event("response.output_audio_transcript.done", **response.ids(), transcript=spoken),
        ]

    def _usage(self, response: Response, spoken: str, played_ms: int) -> dict[str, Any]:
        input_text, input_audio = self._session.context_tokens()
        output_audio = played_ms // OUTPUT_AUDIO_MS_PER_TOKEN if response.audio else 0
        return usage(
            input_text=input_text,
            input_audio=input_audio,
            output_text=text_tokens(spoken),
            output_audio=output_audio,
        )
