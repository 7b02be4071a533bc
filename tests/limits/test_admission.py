"""The concurrent-calls limit cannot be passed by starting two calls at once (issue 4): the
check and the conversation it admits are one transaction, the owner's row locked."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from conversations import services
from conversations.models import Conversation
from limits import enforcement
from signaling.messages import ProtocolError
from tests.signaling.client import SignalingClient

pytestmark = pytest.mark.django_db(transaction=True)


def _start(owner: Any, admit: Any) -> str:
    try:
        services.start_conversation(
            owner=owner,
            transport="webrtc",
            mode="brokered",
            model="gpt-realtime",
            voice="marin",
            instructions="",
            admit=admit,
        )
        return "started"
    except ProtocolError as exc:
        return exc.code
    finally:
        connection.close()  # this thread's connection, back to the pool


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two connections racing need PostgreSQL; SQLite has one writer at a time",
)
def test_two_starts_racing_on_two_connections_admit_one(owner: Any, settings: Any) -> None:
    settings.LIMITS_MAX_CONCURRENT_CALLS = 1
    checked = [threading.Event(), threading.Event()]

    def admit_as(me: int) -> Any:
        def admit() -> None:
            enforcement.check(owner, "brokered")
            checked[me].set()
            # Keep this transaction open until the other start has checked as well. Without
            # the owner's row lock its check would run now, see no call yet, and pass too; with
            # it, the other start waits for this commit (the wait here then simply runs out).
            checked[1 - me].wait(timeout=2)

        return admit

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(_start, [owner, owner], [admit_as(0), admit_as(1)]))

    assert sorted(outcomes) == ["started", "too_many_calls"]
    assert Conversation.objects.filter(owner=owner).count() == 1


@database_sync_to_async
def _conversations() -> list[tuple[int, str]]:
    return list(Conversation.objects.values_list("owner_id", "status"))


@pytest.mark.asyncio
async def test_two_tabs_starting_at_once_get_one_call_and_one_refusal(
    owner: Any, owner_cookie: str, settings: Any
) -> None:
    settings.LIMITS_MAX_CONCURRENT_CALLS = 1
    tabs = [await SignalingClient(owner_cookie).open() for _ in range(2)]

    start = {"type": "call.start", "mode": "brokered"}
    await asyncio.gather(*(tab.send(start) for tab in tabs))
    replies = await asyncio.gather(*(tab.receive() for tab in tabs))

    kinds = sorted((r["type"], r.get("code", "")) for r in replies)
    assert kinds == [("call.started", ""), ("error", "too_many_calls")]
    assert await _conversations() == [(owner.pk, Conversation.Status.CONNECTING)]
    for tab in tabs:
        assert await tab.nothing_more()
        await tab.close()
