"""Relayed batches written together: those that arrive while a write runs share the next
transaction, each caller hears only after that commit, one failing batch fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from channels.db import database_sync_to_async

from conversations import db, services
from conversations.models import Conversation
from signaling import writer
from tests.conversations import events as ev

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def start(owner: Any) -> Conversation:
    return services.start_conversation(
        owner=owner, transport="webrtc", mode="brokered", model="m", voice="v", instructions=""
    )


@database_sync_to_async
def stored(conversation: Conversation) -> list[tuple[str, str]]:
    return list(conversation.turns.order_by("position").values_list("item_id", "text"))


def batches_for(conversations: list[Conversation]) -> list[services.Batch]:
    return [
        services.Batch(
            c.pk,
            ev.exchange(f"u{i}", f"a{i}", None, f"Question {i}", f"Answer {i}", f"r{i}"),
            "browser",
            services.Recording(c.pk, "browser"),
        )
        for i, c in enumerate(conversations)
    ]


@pytest.fixture
def journal(monkeypatch) -> list[tuple[str, Any]]:
    """What the writer did, in order: each group it wrote (once `write_group` returned, so after
    the commit), interleaved by the test with the answers its callers got."""
    entries: list[tuple[str, Any]] = []
    real = writer.write_group

    def observed(batches: Sequence[services.Batch]) -> list:
        outcomes = real(batches)
        entries.append(("committed", [b.conversation_id for b in batches]))
        return outcomes

    monkeypatch.setattr(writer, "write_group", observed)
    return entries


@pytest.mark.asyncio
async def test_batches_arriving_during_a_write_share_the_next_commit_each_answered_after_it(
    owner, journal
) -> None:
    conversations = [await start(owner) for _ in range(4)]
    batches = batches_for(conversations)
    to_writer = writer.Writer(parallel=1)

    async def write(batch: services.Batch) -> services.RecordResult:
        result = await to_writer.write(batch)
        journal.append(("answered", batch.conversation_id))
        return result

    results = await asyncio.gather(*(asyncio.create_task(write(b)) for b in batches))

    ids = [c.pk for c in conversations]
    assert journal == [
        ("committed", ids[:1]),
        ("answered", ids[0]),
        ("committed", ids[1:]),
        *(("answered", i) for i in ids[1:]),
    ]
    assert [[t.item_id for t in r.turns] for r in results] == [[f"u{i}", f"a{i}"] for i in range(4)]
    for i, conversation in enumerate(conversations):
        assert await stored(conversation) == [(f"u{i}", f"Question {i}"), (f"a{i}", f"Answer {i}")]
    assert all(b.recording.revision == 1 for b in batches)


@pytest.mark.asyncio
async def test_a_failing_batch_fails_alone_and_the_others_are_stored(owner, journal) -> None:
    conversations = [await start(owner) for _ in range(3)]
    good = batches_for(conversations)
    bad = services.Batch(404, good[0].events, "browser")
    to_writer = writer.Writer(parallel=1)

    first = asyncio.create_task(to_writer.write(good[0]))
    rest = [asyncio.create_task(to_writer.write(b)) for b in (good[1], bad, good[2])]
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)

    assert isinstance(outcomes[2], Conversation.DoesNotExist)
    assert [len(o.turns) for i, o in enumerate(outcomes) if i != 2] == [2, 2, 2]
    for conversation in conversations:
        assert len(await stored(conversation)) == 2
    assert journal[1] == ("committed", [conversations[1].pk, 404, conversations[2].pk])


@pytest.mark.asyncio
async def test_a_caller_gone_before_the_commit_leaves_the_batch_stored(owner, journal) -> None:
    conversation = await start(owner)
    (batch,) = batches_for([conversation])
    to_writer = writer.Writer(parallel=1)

    task = asyncio.create_task(to_writer.write(batch))
    await asyncio.sleep(0)  # the write has started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The write goes on without its caller: wait for it to end.
    await asyncio.wait(set(to_writer._running), timeout=10)

    assert journal == [("committed", [conversation.pk])]
    assert len(await stored(conversation)) == 2


def test_a_writer_needs_at_least_one_write_at_a_time() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        writer.Writer(parallel=0)


@pytest.mark.asyncio
@pytest.mark.parametrize(("pooled", "expected"), [(True, 3), (False, 1)])
async def test_the_process_writer_runs_the_configured_writes_at_once_only_where_they_can(
    settings, monkeypatch, pooled: bool, expected: int
) -> None:
    """SIGNALING_PARALLEL_WRITES applies with PostgreSQL's pool; elsewhere (SQLite, one database
    thread) one write runs at a time whatever it says."""
    settings.SIGNALING_PARALLEL_WRITES = 3
    monkeypatch.setattr(db, "parallel", lambda: pooled)
    assert writer.writer()._parallel == expected
