"""The session configuration (GA shape) sent upstream: built from settings, never from the browser.

The browser may only choose among allowed values (the voice); everything else — model,
instructions, transcription, turn detection — is the server's decision.
"""

from __future__ import annotations

from typing import Any, Literal

from django.conf import settings

Output = Literal["audio", "text"]


def allowed_voices() -> list[str]:
    return list(settings.REALTIME_VOICES)


def choose_voice(requested: str | None) -> str:
    """The requested voice if allowed, else the default. Raises ValueError for a foreign one."""
    if not requested:
        return settings.REALTIME_VOICE
    if requested not in settings.REALTIME_VOICES:
        raise ValueError(f"voice {requested!r} is not offered")
    return requested


def _turn_detection() -> dict[str, Any] | None:
    # "none" (or empty) means push-to-talk: the client commits the audio buffer itself.
    kind = settings.REALTIME_TURN_DETECTION
    return None if kind in {"", "none"} else {"type": kind}


def build(*, voice: str, output: Output = "audio") -> dict[str, Any]:
    """A complete `session` object for client_secrets, calls and session.update."""
    session: dict[str, Any] = {
        "type": "realtime",
        "model": settings.REALTIME_MODEL,
        "instructions": settings.REALTIME_INSTRUCTIONS,
        "output_modalities": [output],
    }
    if output == "audio":
        session["audio"] = {
            "input": {
                # Without a transcription model the API produces no user transcripts at all.
                "transcription": {"model": settings.REALTIME_TRANSCRIPTION_MODEL},
                "turn_detection": _turn_detection(),
            },
            "output": {"voice": voice},
        }
    return session
