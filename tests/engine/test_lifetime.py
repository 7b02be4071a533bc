"""How sessions and the engine end: the maximum session length, and SIGTERM with calls open."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess

import pytest
import websockets

from tests.engine.calls import TRANSCRIBED_SESSION, call_with_server_key
from tests.engine.client import Caller
from tests.engine.conftest import running_engine

pytestmark = pytest.mark.asyncio


async def test_a_session_ends_at_the_maximum_duration() -> None:
    with running_engine(LOCAL_REALTIME_MAX_SESSION_SECONDS="2") as engine:
        url = engine.base_url.replace("http", "ws") + "/realtime?model=gpt-realtime-2.1"
        async with websockets.connect(url, additional_headers=engine.server_auth()) as ws:
            created = json.loads(await ws.recv())
            expired = json.loads(await asyncio.wait_for(ws.recv(), 30))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
    assert created["type"] == "session.created"
    assert expired["error"]["code"] == "session_expired"
    assert ws.close_code == 1000


@pytest.mark.parametrize("embedded", [False, True], ids=["standalone", "embedded-in-voiceapp"])
async def test_sigterm_closes_open_calls_and_the_engine_exits(embedded: bool) -> None:
    with running_engine(embedded=embedded) as engine:
        caller = Caller()
        await call_with_server_key(engine, caller, TRANSCRIBED_SESSION)
        await caller.wait_for("session.created")
        engine.process.send_signal(signal.SIGTERM)
        try:
            exit_code = await asyncio.to_thread(engine.process.wait, 20)
        except subprocess.TimeoutExpired:
            exit_code = None
        await caller.close()
    assert exit_code == 0
