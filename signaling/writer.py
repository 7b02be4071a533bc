"""Relayed batches written together: the batches that arrive while a write is running share the
next transaction, one commit for all, and each caller gets its result only after that commit.

One `Writer` per event loop (one per Daphne process). With SQLite one write runs at a time (it
has one writer anyway); with PostgreSQL's pool (`conversations.db.parallel`) up to
`SIGNALING_PARALLEL_WRITES` (1 unless set) run side by side on the executor's threads, each
grouping what arrived meanwhile. A group that fails is written again batch by batch, so one bad
batch costs only its own caller an error.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from conversations import db, services

logger = logging.getLogger(__name__)

# Batches in one transaction: bounds how long it holds the write lock and its row locks.
MAX_GROUP = 64


@dataclass(frozen=True, slots=True)
class _Waiting:
    batch: services.Batch
    done: asyncio.Future[services.RecordResult]


class Writer:
    def __init__(self, *, parallel: int) -> None:
        if parallel < 1:
            raise ValueError(f"parallel={parallel} must be at least 1")
        self._parallel = parallel
        self._waiting: list[_Waiting] = []
        self._running: set[asyncio.Task[None]] = set()

    async def write(self, batch: services.Batch) -> services.RecordResult:
        """Store `batch` (in a transaction shared with others) and return once it is committed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(batch, done))
        self._start()
        return await done

    def _start(self) -> None:
        while self._waiting and len(self._running) < self._parallel:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
            task = asyncio.create_task(self._flush(group))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start()

    async def _flush(self, group: list[_Waiting]) -> None:
        try:
            outcomes = await db.run(write_group, [waiting.batch for waiting in group])
        except BaseException as exc:  # e.g. the executor shut down: every caller must hear
            outcomes = [exc] * len(group)
        for waiting, outcome in zip(group, outcomes, strict=True):
            if waiting.done.done():
                continue  # its caller was cancelled (the socket closed): nobody to tell
            if isinstance(outcome, BaseException):
                waiting.done.set_exception(outcome)
            else:
                waiting.done.set_result(outcome)


def write_group(
    batches: Sequence[services.Batch],
) -> list[services.RecordResult | Exception]:
    """Each batch's result (or the exception it raised), all in one transaction when possible."""
    if len(batches) > 1:
        try:
            return list(services.record_batches(batches=batches))
        except Exception:
            logger.warning("a group of batches failed; writing them one by one", exc_info=True)
    return [_write_alone(batch) for batch in batches]


def _write_alone(batch: services.Batch) -> services.RecordResult | Exception:
    try:
        return services.record_events(
            conversation_id=batch.conversation_id,
            events=batch.events,
            source=batch.source,
            recording=batch.recording,
        )
    except Exception as exc:
        return exc


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Writer] = weakref.WeakKeyDictionary()


def writer() -> Writer:
    """The running event loop's writer (futures belong to one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    found = _writers.get(loop)
    if found is None:
        parallel = settings.SIGNALING_PARALLEL_WRITES if db.parallel() else 1
        found = _writers[loop] = Writer(parallel=parallel)
    return found
