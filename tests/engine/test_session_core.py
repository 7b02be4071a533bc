"""The sans-I/O session core fed facts directly: no server, no audio, no clock of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from localrealtime.config import default_session, merged
from localrealtime.responses import Play, Speak, StopPlayback
from localrealtime.session import RealtimeSession, Transcribe

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
TRANSCRIBED = {"audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}


def _core(transport: str = "webrtc", **update: Any) -> RealtimeSession:
    session = merged(default_session(model="gpt-realtime-2.1"), update or TRANSCRIBED)
    return RealtimeSession(session=session, transport=transport)


def _events(outputs: list[Any]) -> list[dict[str, Any]]:
    return [output for output in outputs if isinstance(output, dict)]


def _types(outputs: list[Any]) -> list[str]:
    return [event["type"] for event in _events(outputs)]


def _effect(outputs: list[Any], kind: type) -> Any:
    return next(output for output in outputs if isinstance(output, kind))


def _spoken_turn(core: RealtimeSession, words: str) -> tuple[list[Any], Speak]:
    """A user turn from speech start to the reply being ready to speak."""
    out = core.speech_started(1000) + core.speech_stopped(3000)
    item_id = _effect(out, Transcribe).item_id
    out += core.transcribed(item_id, words, NOW)
    return out, _effect(out, Speak)


def test_a_spoken_turn_chains_items_and_defers_the_reply_until_transcribed() -> None:
    core = _core()
    out = core.speech_started(1000) + core.speech_stopped(3000)
    assert "response.created" not in _types(out)
    item_id = _effect(out, Transcribe).item_id
    answered = core.transcribed(item_id, "what time is it", NOW)
    events = _events(answered)
    assert events[0]["transcript"] == "what time is it"
    assistant = next(e for e in events if e["type"] == "conversation.item.added")
    assert assistant["previous_item_id"] == item_id
    assert _effect(answered, Speak).text.startswith("It is 10:30 UTC.")


def test_without_transcription_config_there_is_no_user_transcript() -> None:
    core = _core(audio={"input": {"transcription": None}})
    out, _ = _spoken_turn(core, "hello")
    assert "conversation.item.input_audio_transcription.completed" not in _types(out)
    assert "response.created" in _types(out)


def test_playback_drives_the_transcript_and_completion() -> None:
    core = _core()
    _, speak = _spoken_turn(core, "hello")
    words = [(0, 6), (500, 11), (900, len(speak.text))]
    assert isinstance(core.responses.speech_ready(speak.response_id, words, 1200, b"")[0], Play)
    progress = core.responses.playback_progress(speak.response_id, 600)
    finished = core.responses.playback_finished(speak.response_id, 1200)
    assert [e["delta"] for e in progress] == [speak.text[:11]]
    done = next(e for e in finished if e["type"] == "response.output_audio_transcript.done")
    assert done["transcript"] == speak.text
    assert _types(finished)[-2:] == ["response.done", "output_audio_buffer.stopped"]


def test_barge_in_truncates_to_the_words_played() -> None:
    core = _core()
    _, speak = _spoken_turn(core, "hello")
    core.responses.speech_ready(speak.response_id, [(0, 6), (500, 11), (900, 20)], 1200, b"")
    interrupted = core.speech_started(5000)
    assert _effect(interrupted, StopPlayback).response_id == speak.response_id
    stopped = core.responses.playback_stopped(speak.response_id, 520)
    done = next(e for e in stopped if e["type"] == "response.done")["response"]
    truncated = next(e for e in stopped if e["type"] == "conversation.item.truncated")
    assert done["status"] == "cancelled"
    assert done["output"][0]["content"][0]["transcript"] == speak.text[:11]
    assert truncated["audio_end_ms"] == 520
    assert done["usage"]["output_token_details"]["audio_tokens"] == 520 // 50


def test_a_second_response_create_while_one_runs_is_an_error() -> None:
    core = _core("websocket")
    create = json.dumps({"type": "response.create", "event_id": "evt_2"})
    first = core.receive(create, NOW)
    second = core.receive(create, NOW)
    assert _effect(first, Speak)
    assert second[0]["error"]["code"] == "conversation_already_has_active_response"
    assert second[0]["error"]["event_id"] == "evt_2"


def test_push_to_talk_commits_only_on_request() -> None:
    core = _core(audio={"input": {"turn_detection": None}})
    empty = core.receive('{"type": "input_audio_buffer.commit"}', NOW)
    core.audio_received(800)
    committed = core.receive('{"type": "input_audio_buffer.commit"}', NOW)
    assert empty[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    assert _types(committed)[0] == "input_audio_buffer.committed"
    assert "response.created" not in _types(committed)


def test_event_ids_are_unique() -> None:
    core = _core()
    out, _ = _spoken_turn(core, "hello")
    ids = [event["event_id"] for event in _events(out)]
    assert len(ids) == len(set(ids))


def test_asked_for_its_instructions_it_reads_them_out() -> None:
    core = _core("websocket", instructions="Speak like a pirate.", output_modalities=["text"])
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "What are your instructions?"}],
    }
    core.receive(json.dumps({"type": "conversation.item.create", "item": item}), NOW)
    answer = core.receive('{"type": "response.create"}', NOW)
    text = next(e for e in _events(answer) if e["type"] == "response.output_text.done")["text"]
    assert text == "My instructions are: Speak like a pirate."
