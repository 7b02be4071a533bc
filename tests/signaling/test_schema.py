"""Every client message type's schema: bad input gets a coded error, never silence or a crash."""

from __future__ import annotations

import json

import pytest

from signaling import messages
from tests.signaling.client import SignalingClient

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SDP = "v=0\r\n"
USER_ITEM = {"type": "conversation.item.added", "item": {"id": "item_1"}}

INVALID = [
    ({"type": "nope"}, "unknown_type"),
    ({"no": "type"}, "unknown_type"),
    ({"type": "call.start", "v": 2}, "unsupported_version"),
    ({"type": "call.start", "mode": "telepathy"}, "invalid_field"),
    ({"type": "call.start", "voice": "robot"}, "invalid_field"),
    ({"type": "call.start", "voice": 7}, "invalid_field"),
    ({"type": "call.offer"}, "invalid_field"),
    ({"type": "call.offer", "sdp": "hello"}, "invalid_field"),
    ({"type": "call.offer", "sdp": "v=0" + "a" * messages.MAX_SDP_BYTES}, "too_large"),
    ({"type": "call.connected", "call_id": "sess_1"}, "invalid_field"),
    ({"type": "call.connected"}, "invalid_field"),
    ({"type": "events.relay", "events": [USER_ITEM]}, "invalid_field"),
    ({"type": "events.relay", "seq": -1, "events": [USER_ITEM]}, "invalid_field"),
    ({"type": "events.relay", "seq": True, "events": [USER_ITEM]}, "invalid_field"),
    ({"type": "events.relay", "seq": "1", "events": [USER_ITEM]}, "invalid_field"),
    ({"type": "events.relay", "seq": 0, "events": []}, "too_large"),
    ({"type": "events.relay", "seq": 0, "events": {"a": 1}}, "invalid_field"),
    (
        {"type": "events.relay", "seq": 0, "events": [USER_ITEM] * (messages.MAX_BATCH_EVENTS + 1)},
        "too_large",
    ),
    (
        {"type": "events.relay", "seq": 0, "events": [{"type": "input_audio_buffer.append"}]},
        "invalid_event",
    ),
    ({"type": "events.relay", "seq": 0, "events": ["text"]}, "invalid_event"),
    (
        {
            "type": "events.relay",
            "seq": 0,
            "events": [{"type": "error", "pad": "x" * messages.MAX_EVENT_BYTES}],
        },
        "too_large",
    ),
    ({"type": "call.resume"}, "invalid_field"),
    ({"type": "call.resume", "conversation_id": 0}, "invalid_field"),
    ({"type": "call.resume", "conversation_id": "1"}, "invalid_field"),
    ({"type": "call.end", "reason": 5}, "invalid_field"),
    ({"type": "text.send"}, "invalid_field"),
    ({"type": "text.send", "text": "   "}, "invalid_field"),
    ({"type": "text.send", "text": "x" * (messages.MAX_TEXT_CHARS + 1)}, "too_large"),
]


@pytest.mark.parametrize(("message", "code"), INVALID)
async def test_invalid_messages_get_a_coded_error(owner_cookie, message, code):
    client = await SignalingClient(owner_cookie).open()

    await client.send(message)
    reply = await client.expect("error")

    assert reply["code"] == code
    assert reply["message"]
    assert reply["fatal"] is False
    assert await client.nothing_more()
    await client.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        (json.dumps({"type": "text.send", "text": "x" * messages.MAX_FRAME_BYTES}), "too_large"),
    ],
)
async def test_malformed_frames_get_a_coded_error(owner_cookie, frame, code):
    client = await SignalingClient(owner_cookie).open()

    await client.communicator.send_to(text_data=frame)

    assert (await client.expect("error"))["code"] == code
    await client.close()


async def test_binary_frames_are_refused(owner_cookie):
    client = await SignalingClient(owner_cookie).open()

    await client.communicator.send_to(bytes_data=b"\x00\x01")

    assert (await client.expect("error"))["code"] == "binary_frame"
    await client.close()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "call.offer", "sdp": SDP}, "no_call"),
        ({"type": "call.connected", "call_id": "rtc_1"}, "no_call"),
        ({"type": "events.relay", "seq": 0, "events": [USER_ITEM]}, "no_call"),
        ({"type": "call.end"}, "no_call"),
        ({"type": "text.send", "text": "hi"}, "no_chat"),
    ],
)
async def test_messages_out_of_order_are_refused(owner_cookie, message, code):
    client = await SignalingClient(owner_cookie).open()

    reply = await client.request(message, "error")

    assert reply["code"] == code
    assert await client.nothing_more()
    await client.close()


async def test_a_flood_is_rate_limited_and_the_socket_survives(owner_cookie, monkeypatch):
    monkeypatch.setattr(messages, "RATE_BURST", 3)
    monkeypatch.setattr(messages, "RATE_PER_SECOND", 0.001)
    client = await SignalingClient(owner_cookie).open()

    for _ in range(5):
        await client.send({"type": "nope"})
    codes = [(await client.expect("error"))["code"] for _ in range(5)]

    assert codes == ["unknown_type"] * 3 + ["rate_limited"] * 2
    await client.close()


async def test_hello_announces_version_limits_and_relayed_types(owner_cookie, settings):
    settings.REALTIME_DIRECT_MODE_ENABLED = False
    client = await SignalingClient(owner_cookie).open()

    assert client.hello["v"] == messages.VERSION
    assert client.hello["limits"]["max_batch_events"] == messages.MAX_BATCH_EVENTS
    assert "conversation.item.input_audio_transcription.completed" in client.hello["relay_types"]
    assert client.hello["direct_enabled"] is False
    assert client.hello["voices"] == settings.REALTIME_VOICES
    await client.close()
