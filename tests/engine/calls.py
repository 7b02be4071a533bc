"""Starting and ending engine calls the two ways a client may: ephemeral key + raw SDP, or
server key + multipart (through the official SDK)."""

from __future__ import annotations

from typing import Any

from tests.engine.client import Caller
from tests.engine.conftest import Engine

TRANSCRIBED_SESSION: dict[str, Any] = {
    "type": "realtime",
    "instructions": "Be brief.",
    "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}},
}


async def ephemeral_key(engine: Engine, session: dict[str, Any] | None = None) -> str:
    secret = await engine.sdk().realtime.client_secrets.create(
        session=session or TRANSCRIBED_SESSION,
        expires_after={"anchor": "created_at", "seconds": 60},
    )
    return secret.value


async def call_with_ephemeral_key(engine: Engine, caller: Caller, key: str) -> str:
    """Posts the caller's offer with `key`; returns the call id from `Location`."""
    async with engine.http() as http:
        response = await http.post(
            "/realtime/calls",
            content=await caller.offer(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
        )
    assert response.status_code == 201, response.text
    await caller.accept(response.text)
    return response.headers["Location"].rsplit("/", 1)[-1]


async def call_with_server_key(engine: Engine, caller: Caller, session: dict[str, Any]) -> str:
    raw = await engine.sdk().realtime.calls.with_raw_response.create(
        sdp=await caller.offer(), session=session
    )
    assert raw.http_response.status_code == 201
    await caller.accept(raw.http_response.text)
    return raw.headers["location"].rsplit("/", 1)[-1]


async def hang_up(engine: Engine, call_id: str) -> int:
    async with engine.http() as http:
        response = await http.post(
            f"/realtime/calls/{call_id}/hangup", headers=engine.server_auth()
        )
    return response.status_code
