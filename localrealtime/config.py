"""The session configuration: GA shape, defaults, updates and the beta shape we refuse.

Plain data in, plain data out; the views, the key store and the session core share it.
"""

from __future__ import annotations

import copy
from typing import Any

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
MODALITIES = ({"audio"}, {"text"}, {"audio", "text"})
TURN_DETECTION_TYPES = ("server_vad", "semantic_vad")
# Flat session fields of the retired beta interface (GA nests them under `audio`).
BETA_FIELDS = (
    "modalities",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "turn_detection",
)

DEFAULT_TURN_DETECTION: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
    "idle_timeout_ms": None,
}


class ConfigError(ValueError):
    """A session configuration the engine refuses; `code` and `param` follow OpenAI's errors."""

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None):
        super().__init__(message)
        self.code, self.param = code, param


def default_session(*, model: str, voice: str = "alloy") -> dict[str, Any]:
    pcm = {"type": "audio/pcm", "rate": 24000}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(DEFAULT_TURN_DETECTION),
            },
            "output": {"format": dict(pcm), "voice": voice, "speed": 1.0},
        },
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
    }


def is_beta_shape(session: dict[str, Any]) -> bool:
    return any(field in session for field in BETA_FIELDS)


def merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`base` with `update` applied, after validating it; nested objects merge, null clears."""
    validate(update)
    result = copy.deepcopy(base)
    _merge_into(result, update)
    detection = result["audio"]["input"]["turn_detection"]
    if detection is not None:
        result["audio"]["input"]["turn_detection"] = {**DEFAULT_TURN_DETECTION, **detection}
    return result


def _merge_into(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key in ("id", "object"):
            continue
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def validate(update: dict[str, Any]) -> None:
    if not isinstance(update, dict):
        raise ConfigError("The session must be an object.", param="session")
    if is_beta_shape(update):
        raise ConfigError(
            "The beta Realtime interface has been retired; nest audio settings under `audio`.",
            code="beta_api_shape_disabled",
            param="session",
        )
    if update.get("type", "realtime") != "realtime":
        raise ConfigError("Only `realtime` sessions are supported.", param="session.type")
    _validate_modalities(update.get("output_modalities"))
    audio = update.get("audio") or {}
    _validate_voice((audio.get("output") or {}).get("voice"))
    _validate_turn_detection((audio.get("input") or {}).get("turn_detection", None))
    if not isinstance(update.get("instructions", ""), str):
        raise ConfigError("`instructions` must be a string.", param="session.instructions")


def _validate_modalities(modalities: Any) -> None:
    if modalities is not None and (
        not isinstance(modalities, list) or set(modalities) not in MODALITIES
    ):
        raise ConfigError(
            "`output_modalities` must be ['audio'] or ['text'].", param="session.output_modalities"
        )


def _validate_voice(voice: Any) -> None:
    if voice is not None and voice not in VOICES:
        raise ConfigError(
            f"Invalid voice {voice!r}; supported: {', '.join(VOICES)}.",
            param="session.audio.output.voice",
        )


def _validate_turn_detection(detection: Any) -> None:
    if detection is None:
        return
    if not isinstance(detection, dict) or detection.get("type") not in TURN_DETECTION_TYPES:
        raise ConfigError(
            "`turn_detection.type` must be server_vad or semantic_vad (or null).",
            param="session.audio.input.turn_detection",
        )
