"""The signaling protocol, version 1: every browser⇄server message with its limits.

Client messages are parsed here, at the edge, into small typed objects; anything unknown,
oversized or malformed raises ProtocolError, which the consumer turns into an `error` message.
Server messages are built by the functions at the end so their shapes live in one place.
docs/signaling.md describes the same protocol for people.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings

VERSION = 1

# Limits (also sent to the browser in `hello`, so the client never exceeds them by guessing).
MAX_FRAME_BYTES = 256 * 1024
MAX_BATCH_EVENTS = 64
MAX_EVENT_BYTES = 64 * 1024
MAX_SDP_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4000
MAX_SEQ = 2**31 - 1
# Token bucket per socket: a burst of RATE_BURST messages, refilled at RATE_PER_SECOND.
RATE_PER_SECOND = 20
RATE_BURST = 60
# How long a voice call outlives its signaling socket, waiting for `call.resume`.
RESUME_GRACE_SECONDS = 30

# Close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
# The channel layer (Redis) could not be reached: the page reconnects with backoff and resumes.
# (A server may close only with 1000 or 3000-4999, so not 1011.)
CLOSE_TRY_AGAIN = 4503

# Data-channel events the browser relays: the ones that make the record (docs/signaling.md).
RELAYED_EVENT_TYPES = frozenset(
    {
        "session.created",
        "session.updated",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.created",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "response.output_audio_transcript.done",
        "response.audio_transcript.done",
        "response.output_text.done",
        "response.text.done",
        "response.output_item.done",
        "response.done",
        "error",
    }
)

CallMode = Literal["brokered", "direct", "text"]
_MODES = ("brokered", "direct", "text")
_CALL_ID_RE = re.compile(r"rtc_[A-Za-z0-9_-]{1,120}")


class ProtocolError(Exception):
    """Input the protocol does not allow; `code` for programs, `message` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CallStart:
    mode: CallMode
    voice: str | None
    continue_from: int | None = None  # an earlier conversation of the user's to continue


@dataclass(frozen=True)
class CallOffer:
    sdp: str


@dataclass(frozen=True)
class CallConnected:
    call_id: str


@dataclass(frozen=True)
class EventsRelay:
    seq: int
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class CallResume:
    conversation_id: int


@dataclass(frozen=True)
class CallEnd:
    reason: str


@dataclass(frozen=True)
class TextSend:
    text: str


ClientMessage = (
    CallStart | CallOffer | CallConnected | EventsRelay | CallResume | CallEnd | TextSend
)


def _field(message: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = message.get(name)
    if value is None and not required:
        return None
    # bool is an int in Python; a JSON `true` is never a valid number here.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError("invalid_field", f"`{name}` must be a {kind.__name__}.")
    return value


def _parse_call_start(message: dict[str, Any]) -> CallStart:
    mode = message.get("mode", "brokered")
    if mode not in _MODES:
        raise ProtocolError("invalid_field", f"`mode` must be one of {', '.join(_MODES)}.")
    voice = _field(message, "voice", str, required=False)
    if voice is not None and voice not in settings.REALTIME_VOICES:
        raise ProtocolError("invalid_field", "`voice` is not one of the offered voices.")
    continue_from = _field(message, "continue_from", int, required=False)
    if continue_from is not None and (continue_from <= 0 or mode == "text"):
        raise ProtocolError("invalid_field", "`continue_from` is a conversation id, for voice.")
    return CallStart(mode, voice, continue_from)


def _parse_call_offer(message: dict[str, Any]) -> CallOffer:
    sdp = _field(message, "sdp", str)
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise ProtocolError("too_large", f"The SDP offer exceeds {MAX_SDP_BYTES} bytes.")
    if not sdp.startswith("v=0"):
        raise ProtocolError("invalid_field", "`sdp` is not an SDP offer.")
    return CallOffer(sdp)


def _parse_call_connected(message: dict[str, Any]) -> CallConnected:
    call_id = _field(message, "call_id", str)
    if not _CALL_ID_RE.fullmatch(call_id):
        raise ProtocolError("invalid_field", "`call_id` is not a call id.")
    return CallConnected(call_id)


def _parse_event(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or event.get("type") not in RELAYED_EVENT_TYPES:
        raise ProtocolError("invalid_event", "The batch holds an event that is not relayed.")
    # Measured as the browser measures it: compact UTF-8 JSON.
    compact = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    if len(compact.encode()) > MAX_EVENT_BYTES:
        raise ProtocolError("too_large", f"A relayed event exceeds {MAX_EVENT_BYTES} bytes.")
    return event


def _parse_events_relay(message: dict[str, Any]) -> EventsRelay:
    seq = _field(message, "seq", int)
    if not 0 <= seq <= MAX_SEQ:
        raise ProtocolError("invalid_field", "`seq` is out of range.")
    events = _field(message, "events", list)
    if not 1 <= len(events) <= MAX_BATCH_EVENTS:
        raise ProtocolError("too_large", f"A batch holds 1 to {MAX_BATCH_EVENTS} events.")
    return EventsRelay(seq, [_parse_event(event) for event in events])


def _parse_call_resume(message: dict[str, Any]) -> CallResume:
    conversation_id = _field(message, "conversation_id", int)
    if conversation_id <= 0:
        raise ProtocolError("invalid_field", "`conversation_id` must be positive.")
    return CallResume(conversation_id)


def _parse_call_end(message: dict[str, Any]) -> CallEnd:
    reason = _field(message, "reason", str, required=False) or "hangup"
    return CallEnd(reason[:100])


def _parse_text_send(message: dict[str, Any]) -> TextSend:
    text = _field(message, "text", str).strip()
    if not text:
        raise ProtocolError("invalid_field", "`text` is empty.")
    if len(text) > MAX_TEXT_CHARS:
        raise ProtocolError("too_large", f"A message holds at most {MAX_TEXT_CHARS} characters.")
    return TextSend(text)


_PARSERS = {
    "call.start": _parse_call_start,
    "call.offer": _parse_call_offer,
    "call.connected": _parse_call_connected,
    "events.relay": _parse_events_relay,
    "call.resume": _parse_call_resume,
    "call.end": _parse_call_end,
    "text.send": _parse_text_send,
}


def parse_frame(text_data: str | None, bytes_data: bytes | None) -> ClientMessage:
    """Parse one WebSocket frame into a client message, or raise ProtocolError."""
    if text_data is None:
        raise ProtocolError("binary_frame", "Only text frames are accepted.")
    if len(text_data.encode()) > MAX_FRAME_BYTES:
        raise ProtocolError("too_large", f"A message is at most {MAX_FRAME_BYTES} bytes.")
    try:
        message = json.loads(text_data)
    except ValueError as exc:
        raise ProtocolError("invalid_json", "The message is not valid JSON.") from exc
    if not isinstance(message, dict):
        raise ProtocolError("invalid_message", "A message is a JSON object.")
    if message.get("v", VERSION) != VERSION:
        raise ProtocolError("unsupported_version", f"This server speaks version {VERSION}.")
    parser = _PARSERS.get(message.get("type"))  # type: ignore[arg-type]
    if parser is None:
        raise ProtocolError("unknown_type", "Unknown message type.")
    return parser(message)


# --- Server → client -----------------------------------------------------------------------


def hello(*, direct_enabled: bool, calls_url: str) -> dict[str, Any]:
    return {
        "type": "hello",
        "v": VERSION,
        "limits": {
            "max_frame_bytes": MAX_FRAME_BYTES,
            "max_batch_events": MAX_BATCH_EVENTS,
            "max_event_bytes": MAX_EVENT_BYTES,
            "max_sdp_bytes": MAX_SDP_BYTES,
            "max_text_chars": MAX_TEXT_CHARS,
            "rate_per_second": RATE_PER_SECOND,
            "rate_burst": RATE_BURST,
        },
        "relay_types": sorted(RELAYED_EVENT_TYPES),
        "voices": list(settings.REALTIME_VOICES),
        "default_voice": settings.REALTIME_VOICE,
        "direct_enabled": direct_enabled,
        "calls_url": calls_url,
    }


def call_started(
    *, conversation_id: int, mode: str, voice: str, seed: list[dict] | None = None
) -> dict[str, Any]:
    """`seed`: when continuing, the events the page sends on the data channel once it opens."""
    started = {
        "type": "call.started",
        "conversation_id": conversation_id,
        "mode": mode,
        "voice": voice,
    }
    return started | {"seed": seed} if seed else started


def call_answer(*, sdp: str) -> dict[str, Any]:
    return {"type": "call.answer", "sdp": sdp}


def call_key(*, key: str, expires_at: int, calls_url: str) -> dict[str, Any]:
    return {"type": "call.key", "key": key, "expires_at": expires_at, "calls_url": calls_url}


def call_resumed(*, conversation_id: int, status: str, turns: list[dict]) -> dict[str, Any]:
    return {
        "type": "call.resumed",
        "conversation_id": conversation_id,
        "status": status,
        "turns": turns,
    }


def events_ack(*, seq: int, turns: list[dict]) -> dict[str, Any]:
    return {"type": "events.ack", "seq": seq, "turns": turns}


def transcript_update(*, turns: list[dict]) -> dict[str, Any]:
    return {"type": "transcript.update", "turns": turns}


def text_delta(*, item_id: str, delta: str) -> dict[str, Any]:
    return {"type": "text.delta", "item_id": item_id, "delta": delta}


def call_warning(*, reason: str, message: str, seconds_left: int) -> dict[str, Any]:
    """A limit (a limits.rules reason) ends the call in `seconds_left` unless it ends first."""
    return {
        "type": "call.warning",
        "reason": reason,
        "message": message,
        "seconds_left": seconds_left,
    }


def call_ended(*, conversation_id: int | None, reason: str) -> dict[str, Any]:
    return {"type": "call.ended", "conversation_id": conversation_id, "reason": reason}


def error(*, code: str, message: str, fatal: bool = False) -> dict[str, Any]:
    """`fatal` tells the client the call is over (the conversation was marked failed)."""
    return {"type": "error", "code": code, "message": message, "fatal": fatal}
