"""Call flows through the consumer against a stub upstream: brokered, direct, failures, relay."""

from __future__ import annotations

import asyncio
import json

import channels.consumer
import pytest
from channels.db import database_sync_to_async
from django.db import connection

from conversations import services
from conversations.models import Conversation, Turn
from tests.conversations import events as ev
from tests.signaling.client import SignalingClient, eventually
from tests.signaling.stub_upstream import Canned

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

OFFER = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\n"
ANSWER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
CALL_CREATED = Canned(
    201,
    {"content-type": "application/sdp", "location": "/v1/realtime/calls/rtc_stub1"},
    ANSWER.encode(),
)
HUNG_UP = Canned(200, {"content-type": "application/json"}, b"{}")
SECRET = {"value": "ek_stub", "expires_at": 1900000000, "session": {"id": "sess_1"}}


@database_sync_to_async
def conversation(pk: int) -> Conversation:
    return Conversation.objects.get(pk=pk)


@database_sync_to_async
def turns(pk: int) -> list[tuple[str, str, int]]:
    return list(
        Turn.objects.filter(conversation_id=pk)
        .order_by("position")
        .values_list("role", "text", "position")
    )


def one_exchange() -> list[dict]:
    return [
        ev.item_added("item_u", None, "user"),
        ev.user_transcript("item_u", "hello there"),
        ev.item_added("item_a", "item_u", "assistant"),
        ev.assistant_transcript("item_a", "hi, how can I help?"),
    ]


async def end(client: SignalingClient) -> None:
    """End the call before closing, so no abandoned-call watcher outlives the test's loop."""
    await client.request({"type": "call.end"}, "call.ended")
    await client.close()


async def start_brokered(stub, cookie) -> tuple[SignalingClient, int]:
    stub.answer("/realtime/calls", CALL_CREATED)
    stub.answer("/realtime/calls/rtc_stub1/hangup", HUNG_UP)
    client = await SignalingClient(cookie).open()
    started = await client.request({"type": "call.start", "voice": "cedar"}, "call.started")
    answer = await client.request({"type": "call.offer", "sdp": OFFER}, "call.answer")
    assert answer["sdp"] == ANSWER
    return client, started["conversation_id"]


async def test_brokered_call_posts_the_offer_and_ends_with_a_hangup(stub, owner_cookie, owner):
    client, pk = await start_brokered(stub, owner_cookie)
    # The answer goes to the browser before the call is recorded as connected.
    active = await eventually(lambda: conversation(pk), lambda c: c.status != "connecting")

    ended = await client.request({"type": "call.end"}, "call.ended")

    assert (active.status, active.upstream_call_id, active.voice) == (
        "active",
        "rtc_stub1",
        "cedar",
    )
    assert ended["conversation_id"] == pk
    assert (await conversation(pk)).status == "ended"
    assert [seen.path for seen in stub.seen] == [
        "/v1/realtime/calls",
        "/v1/realtime/calls/rtc_stub1/hangup",
    ]
    assert b'"voice": "cedar"' in stub.seen[0].body
    assert await client.nothing_more()
    await client.close()


def _pool_checked_out() -> int:
    pool = getattr(connection, "pool", None)
    stats = pool.get_stats() if pool else {}
    return stats.get("pool_size", 0) - stats.get("pool_available", 0)


async def test_calls_give_their_database_connections_back(stub, owner_cookie):
    # With PostgreSQL's pool, a connection kept per unit of work (as asgiref 3.13's contexts
    # made Channels' clean-up miss) ran the pool dry after ~20 calls: PoolTimeout for everyone.
    before = _pool_checked_out()
    for _ in range(3):
        client, _pk = await start_brokered(stub, owner_cookie)
        await end(client)
    assert _pool_checked_out() == before


async def test_messages_skip_channels_extra_hop_to_the_database_thread(
    stub, owner_cookie, monkeypatch
):
    # Channels awaits `aclose_old_connections()` (a thread hop) before every handler; the
    # consumer's database work cleans up after itself, so its messages go without it.
    hops = []

    async def counted() -> None:
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    client, _pk = await start_brokered(stub, owner_cookie)
    await end(client)

    assert hops == []


@pytest.mark.parametrize(
    ("canned", "code"),
    [
        (Canned(401, {}, b'{"error": {"code": "invalid_api_key"}}'), "upstream_unauthorized"),
        (Canned(429, {"retry-after": "3"}, b"{}"), "upstream_rate_limited"),
        (Canned(500, {}, b"boom"), "upstream_unavailable"),
        (Canned(201, {"content-type": "text/plain"}, b"garbage"), "upstream_bad_response"),
        (Canned(hang=True), "upstream_timeout"),
    ],
)
async def test_upstream_failures_fail_the_conversation_and_tell_the_user(
    stub, owner_cookie, fast_timeout, canned, code
):
    stub.answer("/realtime/calls", canned)
    client = await SignalingClient(owner_cookie).open()
    started = await client.request({"type": "call.start"}, "call.started")

    error = await client.request({"type": "call.offer", "sdp": OFFER}, "error")

    assert (error["code"], error["fatal"]) == (code, True)
    failed = await conversation(started["conversation_id"])
    assert failed.status == "failed"
    assert failed.error.startswith(code)
    assert failed.ended_at is not None
    await client.close()


async def test_direct_mode_hands_out_a_key_and_learns_the_call_id(stub, owner_cookie):
    stub.answer(
        "/realtime/client_secrets",
        Canned(200, {"content-type": "application/json"}, json.dumps(SECRET).encode()),
    )
    stub.answer("/realtime/calls/rtc_direct1/hangup", HUNG_UP)
    client = await SignalingClient(owner_cookie).open()

    started = await client.request({"type": "call.start", "mode": "direct"}, "call.started")
    key = await client.expect("call.key")
    await client.send({"type": "call.connected", "call_id": "rtc_direct1"})
    await client.request({"type": "call.end"}, "call.ended")

    assert (key["key"], key["expires_at"]) == ("ek_stub", 1900000000)
    assert key["calls_url"] == f"{stub.base_url}/realtime/calls"
    recorded = await conversation(started["conversation_id"])
    assert (recorded.mode, recorded.upstream_call_id, recorded.status) == (
        "direct",
        "rtc_direct1",
        "ended",
    )
    assert stub.seen[-1].path == "/v1/realtime/calls/rtc_direct1/hangup"
    await client.close()


async def test_direct_mode_can_be_switched_off(stub, owner_cookie, settings):
    settings.REALTIME_DIRECT_MODE_ENABLED = False
    client = await SignalingClient(owner_cookie).open()

    error = await client.request({"type": "call.start", "mode": "direct"}, "error")

    assert error["code"] == "mode_disabled"
    assert stub.seen == []
    assert await database_sync_to_async(Conversation.objects.count)() == 0
    await client.close()


async def test_a_failed_key_mint_fails_the_direct_call(stub, owner_cookie):
    stub.answer("/realtime/client_secrets", Canned(503, {}, b""))
    client = await SignalingClient(owner_cookie).open()

    error = await client.request({"type": "call.start", "mode": "direct"}, "error")

    assert (error["code"], error["fatal"]) == ("upstream_unavailable", True)
    assert await database_sync_to_async(
        lambda: list(Conversation.objects.values_list("status", flat=True))
    )() == ["failed"]
    await client.close()


async def test_offers_in_the_wrong_state_are_refused(stub, owner_cookie):
    client, _ = await start_brokered(stub, owner_cookie)

    again = await client.request({"type": "call.offer", "sdp": OFFER}, "error")
    second_call = await client.request({"type": "call.start"}, "error")

    assert again["code"] == "already_answered"
    assert second_call["code"] == "call_active"
    assert len(stub.seen) == 1
    await end(client)


async def test_relay_is_idempotent_and_acked_each_time(stub, owner_cookie):
    client, pk = await start_brokered(stub, owner_cookie)
    batch = {"type": "events.relay", "seq": 0, "events": one_exchange()}

    first = await client.request(batch, "events.ack")
    second = await client.request(batch, "events.ack")

    assert first["seq"] == second["seq"] == 0
    assert [(t["role"], t["text"], t["position"]) for t in first["turns"]] == [
        ("user", "hello there", 0),
        ("assistant", "hi, how can I help?", 1),
    ]
    assert second["turns"] == []
    assert await turns(pk) == [("user", "hello there", 0), ("assistant", "hi, how can I help?", 1)]
    await end(client)


async def test_a_socket_relaying_after_the_sideband_wrote_keeps_the_sidebands_words(
    stub, owner_cookie
):
    client, pk = await start_brokered(stub, owner_cookie)
    exchange = one_exchange()
    await client.request({"type": "events.relay", "seq": 0, "events": exchange}, "events.ack")
    sideband = [ev.user_transcript("item_u", "hello their")]
    await database_sync_to_async(services.record_events)(
        conversation_id=pk, events=sideband, source="sideband"
    )
    retold = ev.user_transcript("item_u", "hello there!")  # the browser's words, again changed
    later = [retold, ev.committed("item_u2", "item_a"), ev.user_transcript("item_u2", "bye")]
    resent = await client.request(
        {"type": "events.relay", "seq": 1, "events": [*exchange, *later]}, "events.ack"
    )

    assert [(t["text"], t["position"]) for t in resent["turns"]] == [("hello their", 0), ("bye", 2)]
    assert await turns(pk) == [
        ("user", "hello their", 0),
        ("assistant", "hi, how can I help?", 1),
        ("user", "bye", 2),
    ]
    flagged = await conversation(pk)
    assert (flagged.flagged, flagged.turn_count) == (True, 3)
    await end(client)


async def test_a_dropped_socket_resumes_and_resends_without_loss_or_doubles(
    stub, owner_cookie, short_grace
):
    first_socket, pk = await start_brokered(stub, owner_cookie)
    exchange = one_exchange()
    await first_socket.request(
        {"type": "events.relay", "seq": 0, "events": exchange[:2]}, "events.ack"
    )
    await first_socket.send({"type": "events.relay", "seq": 1, "events": exchange[2:]})
    await first_socket.close()  # seq 1 may or may not have been stored: the client resends it

    second_socket = await SignalingClient(owner_cookie).open()
    resumed = await second_socket.request(
        {"type": "call.resume", "conversation_id": pk}, "call.resumed"
    )
    ack = await second_socket.request(
        {"type": "events.relay", "seq": 1, "events": exchange[2:]}, "events.ack"
    )
    await asyncio.sleep(0.6)  # past the grace: the watcher must find the call held

    assert resumed["status"] == "active"
    assert resumed["turns"][0]["text"] == "hello there"
    assert ack["seq"] == 1
    assert await turns(pk) == [("user", "hello there", 0), ("assistant", "hi, how can I help?", 1)]
    assert (await conversation(pk)).status == "active"
    assert [seen.path for seen in stub.seen] == ["/v1/realtime/calls"]
    await end(second_socket)


async def test_an_abandoned_call_is_hung_up_after_the_grace(stub, owner_cookie, short_grace):
    client, pk = await start_brokered(stub, owner_cookie)

    await client.close()
    ended = await eventually(lambda: conversation(pk), lambda c: c.status == "ended")

    assert ended.end_reason == "disconnected"
    assert stub.seen[-1].path == "/v1/realtime/calls/rtc_stub1/hangup"


async def test_nobody_resumes_someone_elses_call(stub, owner_cookie, stranger_cookie):
    owner_socket, pk = await start_brokered(stub, owner_cookie)
    stranger_socket = await SignalingClient(stranger_cookie).open()

    error = await stranger_socket.request({"type": "call.resume", "conversation_id": pk}, "error")
    relay = await stranger_socket.request(
        {"type": "events.relay", "seq": 0, "events": one_exchange()}, "error"
    )

    assert error["code"] == "not_found"
    assert relay["code"] == "no_call"
    assert await turns(pk) == []
    await end(owner_socket)
    await stranger_socket.close()


async def test_a_reloaded_page_saves_late_batches_of_an_ended_call(stub, owner_cookie):
    first_socket, pk = await start_brokered(stub, owner_cookie)
    await first_socket.request({"type": "call.end"}, "call.ended")
    await first_socket.close()

    second_socket = await SignalingClient(owner_cookie).open()
    resumed = await second_socket.request(
        {"type": "call.resume", "conversation_id": pk}, "call.resumed"
    )
    ack = await second_socket.request(
        {"type": "events.relay", "seq": 4, "events": one_exchange()}, "events.ack"
    )
    ended = await second_socket.request(
        {"type": "call.end", "reason": "page_reloaded"}, "call.ended"
    )
    await second_socket.close()

    assert resumed["status"] == "ended"
    assert (ack["seq"], len(ack["turns"])) == (4, 2)
    assert ended["conversation_id"] == pk
    assert (await conversation(pk)).end_reason == "hangup"
    assert [seen.path for seen in stub.seen].count("/v1/realtime/calls/rtc_stub1/hangup") == 1
