"""What a response cost, from its raw `usage` object and a price row (USD per million tokens).

Pure: no settings, no database. Cached tokens are part of the input tokens (realtime-protocol
§7), so they are taken out of the text/audio input counts and billed once, at `cached_in`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PER = 1_000_000


def _count(details: Mapping[str, Any], name: str) -> int:
    return int(details.get(name) or 0)


def _cached_split(details: Mapping[str, Any], text: int, audio: int) -> tuple[int, int]:
    """(cached text, cached audio). Without a breakdown the cached tokens come out of the text
    input first: a cached prefix is the instructions and earlier text before any audio."""
    cached = _count(details, "cached_tokens")
    split = details.get("cached_tokens_details") or {}
    if split:
        return min(_count(split, "text_tokens"), text), min(_count(split, "audio_tokens"), audio)
    cached_text = min(cached, text)
    return cached_text, min(cached - cached_text, audio)


def response_cost(usage: Mapping[str, Any], price: Mapping[str, float]) -> float:
    """USD. A missing `cached_in` price bills cached tokens at the uncached input prices."""
    inputs = usage.get("input_token_details") or {}
    outputs = usage.get("output_token_details") or {}
    text_in, audio_in = _count(inputs, "text_tokens"), _count(inputs, "audio_tokens")
    # Input without a breakdown is billed as text, the cheaper assumption being the wrong one.
    text_in += max(_count(usage, "input_tokens") - text_in - audio_in, 0)
    cached_text, cached_audio = _cached_split(inputs, text_in, audio_in)
    cached_price = price.get("cached_in")
    total = (text_in - cached_text) * price["text_in"] + (audio_in - cached_audio) * price[
        "audio_in"
    ]
    if cached_price is None:
        total += cached_text * price["text_in"] + cached_audio * price["audio_in"]
    else:
        total += (cached_text + cached_audio) * cached_price
    total += _count(outputs, "text_tokens") * price["text_out"]
    total += _count(outputs, "audio_tokens") * price["audio_out"]
    return total / PER
