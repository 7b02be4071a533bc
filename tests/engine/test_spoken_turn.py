"""A spoken sentence through a real WebRTC call: events, transcript, reply audio, sideband.

The sentence is "The weather is nice and sunny in London." spoken by eSpeak NG (en-us+f2).
PocketSphinx gets "sunny" right in every run seen; "london" in nearly all (a decoder carries
state from earlier utterances, and once heard "d lineman"); "weather" and "nice" it often
mishears. So the tests assert "sunny", and that the engine repeats back what it heard.
"""

from __future__ import annotations

import pytest

from tests.engine.calls import (
    TRANSCRIBED_SESSION,
    call_with_ephemeral_key,
    call_with_server_key,
    ephemeral_key,
    hang_up,
)
from tests.engine.client import Caller
from tests.engine.conftest import Engine, spoken

SENTENCE = "The weather is nice and sunny in London."
RELIABLE_WORD = "sunny"
TURN_EVENTS = [
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.added",
    "conversation.item.done",
    "conversation.item.input_audio_transcription.completed",
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "output_audio_buffer.started",
    "response.output_audio_transcript.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
    "output_audio_buffer.stopped",
]

pytestmark = [pytest.mark.engine, pytest.mark.asyncio]


def _deduplicated(types: list[str]) -> list[str]:
    """The event types in order, runs of the same type (deltas) collapsed to one."""
    return [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]


async def test_a_spoken_sentence_gets_transcribed_and_answered_in_voice(engine: Engine) -> None:
    caller = Caller()
    call_id = await call_with_ephemeral_key(engine, caller, await ephemeral_key(engine))
    try:
        await caller.wait_for("session.created")
        caller.microphone.say(spoken(SENTENCE))
        done = await caller.wait_for("output_audio_buffer.stopped", within=60)
    finally:
        await hang_up(engine, call_id)
        await caller.close()
    types = caller.types()
    assert types[0] == "session.created"
    assert _deduplicated(types[1:]) == TURN_EVENTS
    transcript = await caller.wait_for("conversation.item.input_audio_transcription.completed")
    assert RELIABLE_WORD in transcript["transcript"], transcript
    final = await caller.wait_for("response.done")
    assert final["response"]["status"] == "completed"
    assert final["response"]["usage"]["output_token_details"]["audio_tokens"] > 0
    spoken_text = (await caller.wait_for("response.output_audio_transcript.done"))["transcript"]
    deltas = [e["delta"] for e in caller.events if e["type"].endswith("transcript.delta")]
    assert "".join(deltas) == spoken_text
    assert "offline engine" in spoken_text
    assert transcript["transcript"] in spoken_text
    assert caller.loud_frames, "the reply audio arrived silent"
    assert done["response_id"] == final["response"]["id"]
    assert len({e["event_id"] for e in caller.events}) == len(caller.events)


async def test_speaking_over_the_reply_cuts_it_short(engine: Engine) -> None:
    caller = Caller()
    call_id = await call_with_server_key(engine, caller, TRANSCRIBED_SESSION)
    try:
        await caller.wait_for("session.created")
        caller.microphone.say(spoken(SENTENCE, leading_silence_s=1.0))
        started = await caller.wait_for("output_audio_buffer.started", within=60)
        await caller.wait_for("response.output_audio_transcript.delta")
        caller.microphone.say(spoken(SENTENCE, leading_silence_s=0.2))
        cut = await caller.wait_for("response.done", within=30)
        mark = caller.events.index(cut) + 1
        second = await caller.wait_for(
            "conversation.item.input_audio_transcription.completed", within=60, after=mark
        )
        answer = await caller.wait_for("response.done", within=60, after=mark)
    finally:
        await hang_up(engine, call_id)
        await caller.close()
    response = cut["response"]
    assert response["id"] == started["response_id"]
    assert response["status"] == "cancelled"
    assert response["status_details"]["reason"] == "turn_detected"
    truncated = await caller.wait_for("conversation.item.truncated")
    spoken_text = response["output"][0]["content"][0]["transcript"]
    deltas = [
        e["delta"]
        for e in caller.events
        if e["type"].endswith("transcript.delta") and e["response_id"] == response["id"]
    ]
    assert spoken_text == "".join(deltas)
    # The reply ("I heard you say: ... without a language model.") lasts about 7 s.
    assert spoken_text
    assert not spoken_text.endswith("language model.")
    assert truncated["audio_end_ms"] > 0
    assert RELIABLE_WORD in second["transcript"]  # the interrupting words were heard too
    assert answer["response"]["status"] == "completed"
