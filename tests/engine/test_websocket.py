"""WebSocket sessions through the official SDK: text turns, audio in, and the error events."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import websockets

from tests.engine.calls import ephemeral_key
from tests.engine.conftest import Engine, spoken

pytestmark = pytest.mark.asyncio
MODEL = "gpt-realtime-2.1"


async def _next(connection: Any, type: str) -> dict[str, Any]:
    """Skips events until one of `type`; returns it as the JSON the engine sent."""
    while True:
        event = json.loads(await connection.recv_bytes())
        if event["type"] in (type, "error"):
            return event


async def _events_until(connection: Any, type: str) -> list[dict[str, Any]]:
    events = []
    while not events or events[-1]["type"] != type:
        events.append(json.loads(await connection.recv_bytes()))
    return events


async def test_a_text_session_answers_in_text(engine: Engine) -> None:
    async with engine.sdk().realtime.connect(model=MODEL) as connection:
        created = await _next(connection, "session.created")
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        updated = await _next(connection, "session.updated")
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello, what is the date today?"}],
            }
        )
        added = await _next(connection, "conversation.item.added")
        await connection.response.create()
        events = await _events_until(connection, "response.done")
    assert created["session"]["model"] == MODEL
    assert updated["session"]["output_modalities"] == ["text"]
    text = next(e["text"] for e in events if e["type"] == "response.output_text.done")
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == deltas
    assert "Today is" in text
    assert "offline engine" in text
    assert not any("audio" in e["type"] for e in events)
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["usage"]["input_tokens"] > 0
    assert done["usage"]["output_tokens"] > 0
    assistant = next(e for e in events if e["type"] == "conversation.item.added")
    assert assistant["previous_item_id"] == added["item"]["id"]


async def test_text_typed_into_an_audio_session_is_answered_in_voice(engine: Engine) -> None:
    key = await ephemeral_key(engine, {"type": "realtime"})
    async with engine.sdk(key).realtime.connect(model=MODEL) as connection:
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What time is it?"}],
            }
        )
        await connection.response.create()
        events = await _events_until(connection, "response.done")
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert len(audio) > 24000 * 2  # more than a second of 24 kHz PCM16
    assert transcript["transcript"].startswith("It is ")
    assert events[-1]["response"]["usage"]["output_token_details"]["audio_tokens"] > 0


@pytest.mark.engine
async def test_push_to_talk_audio_is_transcribed_on_commit(engine: Engine) -> None:
    session = {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {
            "input": {"turn_detection": None, "transcription": {"model": "gpt-4o-mini-transcribe"}}
        },
    }
    pcm = spoken("The weather is nice and sunny in London.", rate=24000, leading_silence_s=0.3)
    async with engine.sdk().realtime.connect(model=MODEL) as connection:
        await connection.session.update(session=session)
        await _next(connection, "session.updated")
        for start in range(0, len(pcm), 24000):
            chunk = pcm[start : start + 24000].tobytes()
            await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        await connection.input_audio_buffer.commit()
        committed = await _next(connection, "input_audio_buffer.committed")
        completed = await _next(connection, "conversation.item.input_audio_transcription.completed")
        await connection.response.create()
        answer = await _next(connection, "response.output_text.done")
    assert completed["item_id"] == committed["item_id"]
    # "sunny" is the word recognition always gets (see test_spoken_turn.py).
    assert "sunny" in completed["transcript"]
    assert completed["transcript"] in answer["text"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "invalid_json"),
        ('{"type": "no.such.event", "event_id": "evt_1"}', "invalid_value"),
        (
            '{"type": "input_audio_buffer.append", "audio": "' + "A" * 600_000 + '"}',
            "event_too_large",
        ),
        ('{"type": "input_audio_buffer.commit"}', "input_audio_buffer_commit_empty"),
        ('{"type": "response.cancel"}', "response_cancel_not_active"),
        (
            '{"type": "session.update", "session": {"type": "realtime", "audio": '
            '{"output": {"voice": "robot"}}}}',
            "invalid_value",
        ),
    ],
    ids=["bad-json", "unknown-type", "oversized", "empty-commit", "cancel-nothing", "bad-voice"],
)
async def test_bad_input_gets_an_error_event_and_the_session_stays_open(
    engine: Engine, message: str, code: str
) -> None:
    async with engine.sdk().realtime.connect(model=MODEL) as connection:
        await _next(connection, "session.created")
        await connection.send_raw(message)
        error = await _next(connection, "error")
        await connection.session.update(session={"type": "realtime", "instructions": "still here"})
        updated = await _next(connection, "session.updated")
    assert error["error"]["code"] == code
    assert set(error["error"]) >= {"message", "type", "code", "param", "event_id"}
    assert updated["session"]["instructions"] == "still here"


async def test_unknown_key_is_refused_with_invalid_api_key(engine: Engine) -> None:
    url = engine.base_url.replace("http", "ws") + f"/realtime?model={MODEL}"
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer sk-no"}) as ws:
        error = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert error["error"]["code"] == "invalid_api_key"
    assert ws.close_code == 4008


async def test_a_browser_authenticates_with_subprotocols(engine: Engine) -> None:
    key = await ephemeral_key(engine)
    url = engine.base_url.replace("http", "ws") + f"/realtime?model={MODEL}"
    protocols = ["realtime", f"openai-insecure-api-key.{key}"]
    async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        created = json.loads(await ws.recv())
    assert ws.subprotocol == "realtime"
    assert created["type"] == "session.created"
    assert created["session"]["audio"]["input"]["transcription"] is not None


async def test_beta_header_is_refused(engine: Engine) -> None:
    url = engine.base_url.replace("http", "ws") + f"/realtime?model={MODEL}"
    headers = {**engine.server_auth(), "OpenAI-Beta": "realtime=v1"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        error = json.loads(await ws.recv())
    assert error["error"]["code"] == "beta_api_shape_disabled"
