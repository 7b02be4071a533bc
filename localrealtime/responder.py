"""The engine's deterministic replies: no language model, and it says so.

Each rule is a set of trigger words and a reply; the first rule whose words appear in what the
user said wins, otherwise the engine repeats back what it heard.
"""

from __future__ import annotations

import re
from datetime import datetime

INTRODUCTION = (
    "This is Voiceapp's offline engine, running on this machine without a language model."
)
NOT_HEARD = "Sorry, I did not catch that. " + INTRODUCTION


def _greeting(_: str, __: datetime) -> str:
    return f"Hello! {INTRODUCTION} Ask me the time or the date, or say anything and I repeat it."


def _time(_: str, now: datetime) -> str:
    return f"It is {now:%H:%M} {now.tzname() or ''}. {INTRODUCTION}".replace(" .", ".")


def _date(_: str, now: datetime) -> str:
    return f"Today is {now:%A}, {now.day} {now:%B %Y}. {INTRODUCTION}"


def _about(_: str, __: datetime) -> str:
    return (
        "I am Voiceapp's offline engine. I recognise speech with PocketSphinx, answer with a few "
        "fixed rules and speak with eSpeak. Nothing leaves this machine."
    )


_RULES = (
    ({"time", "clock", "hour"}, _time),
    ({"date", "day", "today"}, _date),
    ({"who", "engine", "offline", "openai", "model"}, _about),
    ({"hello", "hi", "hey", "greetings", "morning", "evening"}, _greeting),
)


def reply(heard: str, now: datetime, instructions: str = "") -> str:
    """What the engine answers to `heard` (the user's words) at `now`.

    It cannot follow `instructions` (there is no model), but it reads them out when asked, so a
    user can check that the session's configuration arrived.
    """
    words = set(re.findall(r"[a-z']+", heard.lower()))
    if not words:
        return NOT_HEARD
    if words & {"instructions", "instruction"}:
        return f"My instructions are: {instructions}" if instructions else "I have no instructions."
    for triggers, answer in _RULES:
        if words & triggers:
            return answer(heard, now)
    return f"I heard you say: {heard.strip().rstrip('.')}. {INTRODUCTION}"
