"""The sweeper ends calls no signaling socket holds (their process died), and only those (text
chats: tests/live/test_live_chats.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations.models import Conversation
from live.models import CallSighting
from live.sweeper import STALE, sweep
from tests.signaling.client import SignalingClient
from tests.signaling.test_brokered_stub import HUNG_UP

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

STALE_AFTER = 60
# Older than STALE_AFTER, younger than the limits app's idle timeout (which would end it first).
LONG_AGO = timedelta(seconds=STALE_AFTER * 2)


@database_sync_to_async
def open_call(factory, *, started: timedelta, call_id: str = "") -> Conversation:
    return factory(status="active", started_at=timezone.now() - started, upstream_call_id=call_id)


@database_sync_to_async
def state(pk: int) -> tuple[str, str]:
    conversation = Conversation.objects.get(pk=pk)
    return conversation.status, conversation.end_reason


async def test_a_call_nobody_holds_for_too_long_is_hung_up_and_ended(stub, conversation_factory):
    stub.answer("/realtime/calls/rtc_gone/hangup", HUNG_UP)
    orphan = await open_call(conversation_factory, started=LONG_AGO, call_id="rtc_gone")

    ended = await sweep(stale_after=STALE_AFTER)

    assert ended == [orphan.pk]
    assert await state(orphan.pk) == ("ended", STALE)
    assert [seen.path for seen in stub.seen] == ["/v1/realtime/calls/rtc_gone/hangup"]


async def test_held_and_recent_calls_are_left_alone(stub, owner_cookie, conversation_factory):
    held = await open_call(conversation_factory, started=LONG_AGO)
    recent = await open_call(conversation_factory, started=timedelta(seconds=5))
    tab = await SignalingClient(owner_cookie).open()
    await tab.request({"type": "call.resume", "conversation_id": held.pk}, "call.resumed")

    ended = await sweep(stale_after=STALE_AFTER)

    assert ended == []
    for conversation in (held, recent):
        assert await state(conversation.pk) == ("active", "")
    sighted = CallSighting.objects.values_list("conversation_id", flat=True)
    assert await database_sync_to_async(list)(sighted) == [held.pk]
    assert stub.seen == []
    await tab.close()


async def test_a_call_seen_held_recently_is_not_ended_until_unheld_for_long(
    conversation_factory,
):
    call = await open_call(conversation_factory, started=LONG_AGO)
    await database_sync_to_async(CallSighting.objects.create)(
        conversation=call, seen_at=timezone.now() - timedelta(seconds=STALE_AFTER // 2)
    )

    assert await sweep(stale_after=STALE_AFTER) == []
    await database_sync_to_async(CallSighting.objects.filter(pk=call.pk).update)(
        seen_at=timezone.now() - LONG_AGO
    )
    assert await sweep(stale_after=STALE_AFTER) == [call.pk]
    assert await state(call.pk) == ("ended", STALE)
