"""`POST /realtime/client_secrets`: GA shape, TTL, beta refusal, unknown and expired keys."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from tests.engine.calls import call_with_ephemeral_key, ephemeral_key
from tests.engine.client import Caller
from tests.engine.conftest import Engine

pytestmark = pytest.mark.asyncio
ERROR_FIELDS = {"message", "type", "code", "param"}


async def test_issues_an_ephemeral_key_bound_to_the_session(engine: Engine) -> None:
    before = int(time.time())
    secret = await engine.sdk().realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 120},
        session={"type": "realtime", "instructions": "Hi", "audio": {"output": {"voice": "ash"}}},
    )
    assert secret.value.startswith("ek_")
    assert before + 120 <= secret.expires_at <= int(time.time()) + 120
    session = secret.session.model_dump()
    assert session["id"].startswith("sess_")
    assert session["instructions"] == "Hi"
    assert session["audio"]["output"]["voice"] == "ash"
    assert session["audio"]["input"]["transcription"] is None


async def test_default_ttl_is_ten_minutes(engine: Engine) -> None:
    secret = await engine.sdk().realtime.client_secrets.create(session={"type": "realtime"})
    assert abs(secret.expires_at - (time.time() + 600)) < 5


@pytest.mark.parametrize("seconds", [9, 7201])
async def test_refuses_a_ttl_outside_10_to_7200_seconds(engine: Engine, seconds: int) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await engine.sdk().realtime.client_secrets.create(
            session={"type": "realtime"}, expires_after={"anchor": "created_at", "seconds": seconds}
        )
    assert refused.value.code == "invalid_value"


async def test_refuses_a_session_without_type(engine: Engine) -> None:
    async with engine.http() as http:
        response = await http.post(
            "/realtime/client_secrets",
            headers=engine.server_auth(),
            json={"session": {"instructions": "x"}},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "session.type"


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        ("/realtime/sessions", {}, {"model": "gpt-realtime", "voice": "alloy"}),
        (
            "/realtime/client_secrets",
            {"OpenAI-Beta": "realtime=v1"},
            {"session": {"type": "realtime"}},
        ),
        ("/realtime/client_secrets", {}, {"session": {"type": "realtime", "voice": "alloy"}}),
        ("/realtime/client_secrets", {}, {"model": "gpt-realtime", "modalities": ["audio"]}),
    ],
)
async def test_refuses_beta_shaped_requests(
    engine: Engine, path: str, headers: dict, body: dict
) -> None:
    async with engine.http() as http:
        response = await http.post(path, json=body, headers={**engine.server_auth(), **headers})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "beta_api_shape_disabled"


async def test_unknown_key_gets_401_in_openai_error_shape(engine: Engine) -> None:
    with pytest.raises(openai.AuthenticationError) as refused:
        await engine.sdk("sk-wrong").realtime.client_secrets.create(session={"type": "realtime"})
    assert refused.value.status_code == 401
    assert set(refused.value.body) == ERROR_FIELDS
    assert refused.value.code == "invalid_api_key"


async def test_an_ephemeral_key_is_single_use(engine: Engine) -> None:
    key = await ephemeral_key(engine)
    first, second = Caller(), Caller()
    call_id = await call_with_ephemeral_key(engine, first, key)
    async with engine.http() as http:
        reused = await http.post(
            "/realtime/calls",
            content=await second.offer(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
        )
        await http.post(f"/realtime/calls/{call_id}/hangup", headers=engine.server_auth())
    await first.close()
    await second.close()
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "invalid_api_key"


async def test_an_expired_key_gets_401(engine: Engine) -> None:
    secret = await engine.sdk().realtime.client_secrets.create(
        session={"type": "realtime"}, expires_after={"anchor": "created_at", "seconds": 10}
    )
    await asyncio.sleep(max(0.0, secret.expires_at - time.time()) + 1)
    caller = Caller()
    async with engine.http() as http:
        response = await http.post(
            "/realtime/calls",
            content=await caller.offer(),
            headers={"Authorization": f"Bearer {secret.value}", "Content-Type": "application/sdp"},
        )
    await caller.close()
    assert response.status_code == 401
    assert set(response.json()["error"]) == ERROR_FIELDS
