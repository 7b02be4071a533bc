"""`POST /realtime/calls` in both forms, hang-up, CORS, malformed offers and a full engine."""

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
from tests.engine.conftest import Engine

pytestmark = pytest.mark.asyncio


async def test_ephemeral_key_and_raw_sdp_start_a_call_that_hangs_up(engine: Engine) -> None:
    caller = Caller()
    call_id = await call_with_ephemeral_key(engine, caller, await ephemeral_key(engine))
    created = await caller.wait_for("session.created")
    assert call_id.startswith("rtc_")
    assert created["session"]["audio"]["input"]["transcription"] is not None
    assert await hang_up(engine, call_id) == 200
    assert await hang_up(engine, call_id) == 404
    await caller.close()


async def test_server_key_and_multipart_start_a_call_with_its_session(engine: Engine) -> None:
    caller = Caller()
    session = {**TRANSCRIBED_SESSION, "audio": {"output": {"voice": "cedar"}}}
    call_id = await call_with_server_key(engine, caller, session)
    created = await caller.wait_for("session.created")
    assert created["session"]["audio"]["output"]["voice"] == "cedar"
    assert created["session"]["id"].startswith("sess_")
    assert await hang_up(engine, call_id) == 200
    await caller.close()


async def test_hanging_up_an_unknown_call_is_404(engine: Engine) -> None:
    async with engine.http() as http:
        response = await http.post("/realtime/calls/rtc_nope/hangup", headers=engine.server_auth())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "call_id_not_found"


async def test_a_browser_on_another_origin_may_post_and_read_location(engine: Engine) -> None:
    origin = {"Origin": "http://elsewhere.example"}
    async with engine.http() as http:
        preflight = await http.options(
            "/realtime/calls",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        refused = await http.post("/realtime/calls", content=b"v=0", headers=origin)
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin["Origin"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert refused.headers["Access-Control-Expose-Headers"] == "Location"


@pytest.mark.parametrize(
    "sdp",
    [
        b"hello",
        b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
        b"v=0\r\nm=audio " + b"x" * (65 * 1024),
    ],
    ids=["not-sdp", "no-ice-or-dtls", "oversized"],
)
async def test_a_malformed_offer_is_400_invalid_offer(engine: Engine, sdp: bytes) -> None:
    async with engine.http() as http:
        response = await http.post(
            "/realtime/calls",
            content=sdp,
            headers={**engine.server_auth(), "Content-Type": "application/sdp"},
        )
        stats = (await http.get("/realtime/engine_stats", headers=engine.server_auth())).json()
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_offer"
    assert stats["calls"] == 0


async def test_a_full_engine_refuses_new_calls_with_503(engine: Engine) -> None:
    callers, call_ids = [], []
    refusal = None
    for _ in range(engine.max_sessions + 1):
        caller = Caller()
        callers.append(caller)
        async with engine.http() as http:
            response = await http.post(
                "/realtime/calls",
                content=await caller.offer(),
                headers={**engine.server_auth(), "Content-Type": "application/sdp"},
            )
        if response.status_code != 201:
            refusal = response
            break
        call_ids.append(response.headers["Location"].rsplit("/", 1)[-1])
    for call_id in call_ids:
        await hang_up(engine, call_id)
    for caller in callers:
        await caller.close()
    assert len(call_ids) == engine.max_sessions
    assert refusal is not None
    assert refusal.status_code == 503
    assert refusal.json()["error"]["code"] == "engine_at_capacity"
    assert refusal.headers["Retry-After"]
