"""The sideband (`?call_id=`): a server watching and steering a WebRTC call it brokered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.engine.calls import TRANSCRIBED_SESSION, call_with_server_key, ephemeral_key, hang_up
from tests.engine.client import Caller
from tests.engine.conftest import Engine

pytestmark = pytest.mark.asyncio


async def _until(connection: Any, type: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != type:
        events.append(json.loads(await connection.recv_bytes()))
    return events


async def test_sideband_steers_the_call_and_sees_its_events(engine: Engine) -> None:
    caller = Caller()
    call_id = await call_with_server_key(engine, caller, TRANSCRIBED_SESSION)
    await caller.wait_for("session.created")
    async with engine.sdk().realtime.connect(call_id=call_id) as sideband:
        await sideband.session.update(session={"type": "realtime", "instructions": "Sideband"})
        on_attach = await _until(sideband, "session.updated")
        await sideband.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello there"}],
            }
        )
        await sideband.response.create()
        watched = await _until(sideband, "output_audio_buffer.stopped")
    await caller.wait_for("output_audio_buffer.stopped", within=30)
    await hang_up(engine, call_id)
    await caller.close()
    assert [e["type"] for e in on_attach] == ["session.updated"]  # no session.created
    assert on_attach[0]["session"]["instructions"] == "Sideband"
    seen_by_caller = {e["event_id"] for e in caller.events}
    assert {e["event_id"] for e in on_attach + watched} <= seen_by_caller
    spoken = next(e for e in watched if e["type"] == "response.output_audio_transcript.done")
    assert spoken["transcript"].startswith("Hello!")
    assert caller.loud_frames, "text typed during a voice call is answered in voice"


async def test_sideband_with_an_ephemeral_key_gets_call_id_not_found(engine: Engine) -> None:
    caller = Caller()
    call_id = await call_with_server_key(engine, caller, TRANSCRIBED_SESSION)
    key = await ephemeral_key(engine)
    async with engine.sdk(key).realtime.connect(call_id=call_id) as sideband:
        refusal = json.loads(await sideband.recv_bytes())
    await hang_up(engine, call_id)
    await caller.close()
    assert refusal["type"] == "error"
    assert refusal["error"]["code"] == "call_id_not_found"


async def test_clearing_the_output_buffer_cuts_the_reply_short(engine: Engine) -> None:
    caller = Caller()
    call_id = await call_with_server_key(engine, caller, TRANSCRIBED_SESSION)
    await caller.wait_for("session.created")
    caller.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Who are you?"}],
            },
        }
    )
    caller.send({"type": "response.create"})
    await caller.wait_for("response.output_audio_transcript.delta")
    caller.send({"type": "output_audio_buffer.clear"})
    done = await caller.wait_for("response.done")
    truncated = await caller.wait_for("conversation.item.truncated")
    spoken = (await caller.wait_for("response.output_audio_transcript.done"))["transcript"]
    await hang_up(engine, call_id)
    await caller.close()
    assert done["response"]["status"] == "cancelled"
    assert "output_audio_buffer.cleared" in caller.types()
    assert "output_audio_buffer.stopped" not in caller.types()
    assert spoken
    assert "Nothing leaves this machine." not in spoken
    assert truncated["item_id"] == done["response"]["output"][0]["id"]
    assert done["response"]["output"][0]["content"][0]["transcript"] == spoken
