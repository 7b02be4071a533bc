"""The upstream client against a real (stub) HTTP server: request shapes and error mapping."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.signaling.stub_upstream import Canned
from upstream import realtime, session_config
from upstream.errors import UpstreamError

ANSWER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
OFFER = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\n"
CALL_CREATED = Canned(
    201,
    {"content-type": "application/sdp", "location": "/v1/realtime/calls/rtc_abc-1_x"},
    ANSWER,
)


def error_body(code: str) -> bytes:
    return json.dumps({"error": {"message": "no", "type": "x", "code": code}}).encode()


def config() -> dict:
    return session_config.build(voice="marin")


@pytest.mark.asyncio
async def test_create_call_posts_multipart_with_the_server_key(stub):
    stub.answer("/realtime/calls", CALL_CREATED)

    call = await realtime.create_call(OFFER, config())

    assert (call.call_id, call.answer_sdp) == ("rtc_abc-1_x", ANSWER.decode())
    [request] = stub.seen
    assert request.headers["authorization"] == "Bearer sk-stub-server-key"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="sdp"' in request.body
    assert OFFER.encode() in request.body
    assert b'name="session"' in request.body
    assert b'"type": "realtime"' in request.body


@pytest.mark.asyncio
async def test_azure_mints_a_key_then_posts_raw_sdp(stub, settings):
    settings.OPENAI_API_TYPE = "azure"
    secret = {"value": "ek_minted", "expires_at": 1900000000, "session": {"id": "sess_1"}}
    stub.answer(
        "/realtime/client_secrets",
        Canned(200, {"content-type": "application/json"}, json.dumps(secret).encode()),
    )
    stub.answer("/realtime/calls", CALL_CREATED)

    call = await realtime.create_call(OFFER, config())

    assert call.call_id == "rtc_abc-1_x"
    mint, post = stub.seen
    assert mint.headers["api-key"] == "sk-stub-server-key"
    assert "authorization" not in mint.headers
    assert json.loads(mint.body)["expires_after"] == {"anchor": "created_at", "seconds": 60}
    assert post.headers["authorization"] == "Bearer ek_minted"
    assert post.headers["content-type"] == "application/sdp"
    assert post.body == OFFER.encode()


@pytest.mark.asyncio
async def test_client_secret_is_bound_to_the_session_config(stub):
    secret = {"value": "ek_1", "expires_at": 1900000000, "session": {"id": "sess_9"}}
    stub.answer(
        "/realtime/client_secrets",
        Canned(200, {"content-type": "application/json"}, json.dumps(secret).encode()),
    )

    key = await realtime.create_client_secret(config(), 60)

    assert (key.value, key.expires_at, key.session_id) == ("ek_1", 1900000000, "sess_9")
    sent = json.loads(stub.seen[0].body)["session"]
    assert sent["audio"]["output"]["voice"] == "marin"
    assert sent["audio"]["input"]["transcription"]["model"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("canned", "code", "status"),
    [
        (Canned(400, {}, error_body("invalid_offer")), "upstream_rejected", 400),
        (Canned(401, {}, error_body("invalid_api_key")), "upstream_unauthorized", 401),
        (Canned(403, {}, error_body("forbidden")), "upstream_forbidden", 403),
        (Canned(404, {}, error_body("not_found")), "upstream_not_found", 404),
        (Canned(429, {"retry-after": "7"}, error_body("rate")), "upstream_rate_limited", 429),
        (Canned(500, {}, b"oops"), "upstream_unavailable", 500),
        (Canned(503, {}, b""), "upstream_unavailable", 503),
        (Canned(201, {"content-type": "text/html"}, b"<html>"), "upstream_bad_response", 201),
        (Canned(201, {"content-type": "application/sdp"}, ANSWER), "upstream_bad_response", 201),
        (
            Canned(201, {"content-type": "application/sdp", "location": "/x/evil"}, ANSWER),
            "upstream_bad_response",
            201,
        ),
        (
            Canned(201, {"content-type": "application/sdp", "location": "/c/rtc_1"}, b"junk"),
            "upstream_bad_response",
            201,
        ),
        (Canned(200, {"content-type": "application/sdp"}, ANSWER), "upstream_bad_response", 200),
    ],
)
async def test_create_call_maps_every_failure_to_one_error(stub, canned, code, status):
    stub.answer("/realtime/calls", canned)

    with pytest.raises(UpstreamError) as caught:
        await realtime.create_call(OFFER, config())

    assert (caught.value.code, caught.value.status) == (code, status)
    assert "sk-stub" not in caught.value.message
    assert caught.value.message != "no"


@pytest.mark.asyncio
async def test_rate_limit_tells_the_user_when_to_retry(stub):
    stub.answer("/realtime/calls", Canned(429, {"retry-after": "7"}, error_body("rate")))

    with pytest.raises(UpstreamError) as caught:
        await realtime.create_call(OFFER, config())

    assert "7 s" in caught.value.message


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"value": 5}', b'{"value": "ek_1"}'],
)
async def test_client_secret_rejects_garbage(stub, body):
    stub.answer("/realtime/client_secrets", Canned(200, {"content-type": "application/json"}, body))

    with pytest.raises(UpstreamError) as caught:
        await realtime.create_client_secret(config(), 60)

    assert caught.value.code == "upstream_bad_response"


@pytest.mark.asyncio
async def test_a_hanging_upstream_times_out(stub, fast_timeout):
    stub.answer("/realtime/calls", Canned(hang=True))

    with pytest.raises(UpstreamError) as caught:
        await realtime.create_call(OFFER, config())

    assert caught.value.code == "upstream_timeout"


@pytest.mark.asyncio
async def test_an_unreachable_upstream_is_reported(stub, settings):
    # Port 9 (discard) is closed on the test machines: the connection is refused at once.
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"

    with pytest.raises(UpstreamError) as caught:
        await realtime.create_call(OFFER, config())

    assert caught.value.code == "upstream_unreachable"


@pytest.mark.asyncio
async def test_hangup_treats_an_unknown_call_as_ended_but_reports_outages(stub):
    stub.answer("/realtime/calls/rtc_gone/hangup", Canned(404, {}, error_body("call_id_not_found")))
    stub.answer("/realtime/calls/rtc_down/hangup", Canned(502, {}, b""))

    await realtime.hangup("rtc_gone")
    with pytest.raises(UpstreamError):
        await realtime.hangup("rtc_down")

    assert [seen.path for seen in stub.seen] == [
        "/v1/realtime/calls/rtc_gone/hangup",
        "/v1/realtime/calls/rtc_down/hangup",
    ]


@pytest.mark.asyncio
async def test_hangup_refuses_a_malformed_call_id(stub):
    with pytest.raises(ValueError, match="not a call id"):
        await realtime.hangup("../admin")

    assert stub.seen == []


@pytest.mark.asyncio
async def test_requests_share_one_client_and_reuse_its_connection(keep_alive_stub):
    keep_alive_stub.answer("/realtime/calls", CALL_CREATED)

    first = realtime.client()
    for _ in range(3):
        await realtime.create_call(OFFER, config())

    assert realtime.client() is first
    assert (len(keep_alive_stub.seen), keep_alive_stub.connections) == (3, 1)


@pytest.mark.asyncio
async def test_calls_in_flight_together_each_get_their_answer(keep_alive_stub):
    """Three offers at once over one client: each gets its own connection rather than waiting
    for another's (one after the other, they would all reuse the first), and its own answer."""
    keep_alive_stub.answer("/realtime/calls", CALL_CREATED)

    answered = await asyncio.gather(*(realtime.create_call(OFFER, config()) for _ in range(3)))

    assert [call.call_id for call in answered] == ["rtc_abc-1_x"] * 3
    assert keep_alive_stub.connections == 3


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "upstream_unreachable"),  # closed without a word
        (b"HTTP/1.1 2O1 Created\r\n\r\n", "upstream_bad_response"),  # a garbled status line
        # cut off in the body
        (b"HTTP/1.1 201 Created\r\ncontent-length: 99\r\n\r\nv=0", "upstream_unreachable"),
    ],
)
async def test_an_upstream_that_breaks_off_or_garbles_its_answer_is_reported(stub, raw, code):
    stub.answer("/realtime/calls", Canned(raw=raw))

    with pytest.raises(UpstreamError) as caught:
        await realtime.create_call(OFFER, config())

    assert caught.value.code == code


def test_the_browser_may_only_pick_an_offered_voice(settings):
    settings.REALTIME_VOICES = ["marin", "cedar"]

    assert session_config.choose_voice("cedar") == "cedar"
    assert session_config.choose_voice(None) == settings.REALTIME_VOICE
    with pytest.raises(ValueError, match="not offered"):
        session_config.choose_voice("shimmer")


def test_text_sessions_ask_for_text_output_and_no_audio():
    config = session_config.build(voice="marin", output="text")

    assert config["output_modalities"] == ["text"]
    assert "audio" not in config
    assert config["type"] == "realtime"
