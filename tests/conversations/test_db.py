"""conversations.db: ORM work from async code, on the thread the database allows."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.db import connection

from conversations import db
from conversations.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)


def _create_and_report(owner: Any) -> tuple[int, int]:
    conversation = Conversation.objects.create(owner=owner, transport="webrtc", mode="brokered")
    return conversation.pk, threading.get_ident()


def _stored_ids() -> list[int]:
    # Read through db.run too: Django's async ORM would leave a connection open on asgiref's
    # thread, outside the pool, and PostgreSQL would refuse to drop the test database.
    return list(Conversation.objects.values_list("pk", flat=True))


def test_parallel_only_on_pooled_postgresql() -> None:
    pooled = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
    assert db.parallel() == (connection.vendor == "postgresql" and pooled)


@pytest.mark.asyncio
async def test_run_does_the_work_and_returns_its_result(owner: Any) -> None:
    pk, _ = await db.run(_create_and_report, owner)
    assert await db.run(_stored_ids) == [pk]


@pytest.mark.asyncio
async def test_run_uses_the_threads_the_database_allows(owner: Any) -> None:
    if not db.parallel():
        # SQLite (or no pool): every unit on the one thread-sensitive thread, not the loop's.
        threads = {(await db.run(_create_and_report, owner))[1] for _ in range(3)}
        assert len(threads) == 1
        assert threading.get_ident() not in threads
        assert len(await db.run(_stored_ids)) == 3
        return
    # PostgreSQL with its pool: three units that each wait for the other two only all pass if
    # they run side by side.
    meeting = threading.Barrier(3, timeout=30)

    def meet(owner: Any) -> tuple[int, int]:
        created = _create_and_report(owner)
        meeting.wait()
        return created

    results = await asyncio.gather(*(db.run(meet, owner) for _ in range(3)))
    assert len({thread for _, thread in results}) == 3
    assert len(await db.run(_stored_ids)) == 3


def _checked_out() -> int:
    pool = getattr(connection, "pool", None)
    stats = pool.get_stats() if pool else {}
    return stats.get("pool_size", 0) - stats.get("pool_available", 0)


@pytest.mark.asyncio
@pytest.mark.parametrize("pooled", [False, True])
async def test_the_idle_connection_is_closed_on_its_own_thread_unless_pooled(
    monkeypatch: pytest.MonkeyPatch, pooled: bool
) -> None:
    closed_on: list[int] = []
    monkeypatch.setattr(db, "parallel", lambda: pooled)
    close_all = lambda: closed_on.append(threading.get_ident())  # noqa: E731
    monkeypatch.setattr(db.connections, "close_all", close_all)

    await db.close_idle_connection()

    database_thread = await db.run(threading.get_ident)
    assert closed_on == ([] if pooled else [database_thread])
