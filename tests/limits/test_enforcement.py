"""Limits through the signaling consumer against the stub upstream: warnings, hang-ups, refusals."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation
from tests.limits.calls import earlier_call
from tests.signaling.client import SignalingClient
from tests.signaling.stub_upstream import Canned
from tests.signaling.test_brokered_stub import HUNG_UP, SECRET, end, start_brokered

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

HANGUP_PATH = "/v1/realtime/calls/rtc_stub1/hangup"


@pytest.fixture
def quick_limits(settings) -> None:
    """Checks every 0.1 s and warns 1 s ahead, so limits of a few seconds play out quickly."""
    settings.LIMITS_CHECK_SECONDS = 0.1
    settings.LIMITS_WARNING_SECONDS = 1


@database_sync_to_async
def conversation(pk: int) -> Conversation:
    return Conversation.objects.get(pk=pk)


@database_sync_to_async
def conversation_count() -> int:
    return Conversation.objects.count()


def hangups(stub) -> list[str]:
    return [seen.path for seen in stub.seen if seen.path.endswith("/hangup")]


async def test_a_call_at_its_maximum_length_is_warned_then_hung_up_upstream(
    stub, owner_cookie, owner, settings, quick_limits
):
    settings.LIMITS_MAX_CALL_SECONDS = 3
    client, pk = await start_brokered(stub, owner_cookie)

    warning = await client.expect("call.warning")
    ended = await client.expect("call.ended")

    assert (warning["reason"], warning["seconds_left"]) == ("max_duration", 1)
    assert (ended["reason"], ended["conversation_id"]) == ("max_duration", pk)
    assert hangups(stub) == [HANGUP_PATH]
    record = await conversation(pk)
    assert (record.status, record.end_reason) == ("ended", "max_duration")
    assert await client.nothing_more()
    await client.close()


async def test_the_upstream_session_limit_ends_the_call_with_that_reason(
    stub, owner_cookie, owner, settings, quick_limits
):
    settings.REALTIME_MAX_SESSION_SECONDS = 3
    client, pk = await start_brokered(stub, owner_cookie)

    warning = await client.expect("call.warning")
    ended = await client.expect("call.ended")

    assert warning["reason"] == ended["reason"] == "upstream_session_limit"
    assert (await conversation(pk)).end_reason == "upstream_session_limit"
    assert hangups(stub) == [HANGUP_PATH]
    await client.close()


async def test_daily_minutes_running_out_end_the_call_and_refuse_the_next(
    stub, owner_cookie, owner, settings, quick_limits
):
    settings.LIMITS_DAILY_MINUTES = 1
    await earlier_call(owner, seconds=56)
    client, pk = await start_brokered(stub, owner_cookie)

    warning = await client.expect("call.warning")
    ended = await client.expect("call.ended")
    refused = await client.request({"type": "call.start"}, "error")

    assert warning["reason"] == ended["reason"] == "daily_minutes"
    assert hangups(stub) == [HANGUP_PATH]
    assert (await conversation(pk)).end_reason == "daily_minutes"
    assert (refused["code"], refused["fatal"]) == ("budget_exceeded", False)
    assert await conversation_count() == 2  # the earlier call and the ended one, no third
    await client.close()


async def test_no_direct_mode_key_is_minted_over_the_cost_budget(
    stub, owner_cookie, owner, settings
):
    settings.LIMITS_DAILY_COST_CENTS = 1
    stub.answer("/realtime/client_secrets", Canned(200, body=str(SECRET).encode()))
    await earlier_call(owner, seconds=10, audio_tokens=1000)  # $0.032 at $32 per million
    client = await SignalingClient(owner_cookie).open()

    refused = await client.request({"type": "call.start", "mode": "direct"}, "error")

    assert refused["code"] == "budget_exceeded"
    assert stub.seen == []
    assert await conversation_count() == 1
    assert await client.nothing_more()
    await client.close()


async def test_a_call_beyond_the_concurrent_calls_is_refused_and_text_chat_is_not(
    stub, owner_cookie, owner, settings, conversation_factory
):
    settings.LIMITS_MAX_CONCURRENT_CALLS = 1
    await database_sync_to_async(conversation_factory)(status="active")
    client = await SignalingClient(owner_cookie).open()

    refused = await client.request({"type": "call.start", "mode": "brokered"}, "error")

    assert refused["code"] == "too_many_calls"
    assert stub.seen == []
    assert await conversation_count() == 1
    await client.close()


async def test_a_call_within_its_limits_runs_without_warnings(
    stub, owner_cookie, owner, settings, quick_limits
):
    stub.answer("/realtime/calls/rtc_stub1/hangup", HUNG_UP)
    client, pk = await start_brokered(stub, owner_cookie)

    assert await client.nothing_more()
    await end(client)
    assert (await conversation(pk)).end_reason == "hangup"


async def test_a_call_without_speech_is_warned_then_ended_as_idle(
    stub, owner_cookie, owner, settings, quick_limits
):
    settings.LIMITS_IDLE_TIMEOUT_SECONDS = 3
    client, pk = await start_brokered(stub, owner_cookie)

    warning = await client.expect("call.warning")
    ended = await client.expect("call.ended")

    assert warning["reason"] == ended["reason"] == "idle_timeout"
    assert hangups(stub) == [HANGUP_PATH]
    assert (await conversation(pk)).end_reason == "idle_timeout"
    await client.close()
