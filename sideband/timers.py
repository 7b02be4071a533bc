"""The watcher's own timers (the sideband is not told when the browser goes away) — pure rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

IDLE = "idle_timeout"
MAX_DURATION = "max_duration"


@dataclass(frozen=True, slots=True)
class Limits:
    idle_seconds: float
    max_call_seconds: float


def over_duration(*, now: datetime, started_at: datetime, limits: Limits) -> bool:
    return (now - started_at).total_seconds() >= limits.max_call_seconds


def quiet_too_long(*, now: datetime, last_activity: datetime, limits: Limits) -> bool:
    """No upstream event for the idle timeout. On WebRTC the sideband carries no audio, but the
    upstream's speech detection events (`input_audio_buffer.speech_started`…) stand for it."""
    return (now - last_activity).total_seconds() >= limits.idle_seconds
