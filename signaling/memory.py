"""A Daphne process's memory: given back after waves of closed sockets, collected in short passes.

Each idle socket holds about 36 KiB (Twisted's and autobahn's connection state, the consumer and
its scope; bench.capacity). When thousands close, much of that is cyclic garbage (protocol,
transport and consumer refer to each other) that the collector's oldest generation reaches only
rarely, and what is freed stays with the allocators for reuse: the process stayed at 279 MiB
after 5,000 sockets closed, against 77 MiB before them. So once a wave of closes has gone quiet,
the cycles are collected and `malloc_trim` (glibc) hands free pages back to the system: 217 MiB
after the same wave. The rest is CPython's small-object arenas (1 MiB each), which go back only
when wholly empty, and a few small objects that outlived the sockets kept most of them. So the
trim first lets go of those: the timers Twisted still holds for closed sockets
(`purge_cancelled_timers`), the SQLite connection's references to its old cursors
(`conversations.db.close_idle_connection`), and what two interpreter caches held
(`release_survivors`): 105 MiB. With `PYTHONMALLOC=malloc` nearly all of it goes back (83 MiB,
79 before), for 2 KiB more per socket (README, "N Daphne processes"). Collection and trim walk
the heap (tens of milliseconds at that size, the loop waits), so they run once per wave, not per
close. On a C library without `malloc_trim` (musl, macOS) nothing is done.

The collector's full passes walk every tracked object, and a process holding 200 long calls'
kept records (`services.Recording`: a model row and a state per turn, hundreds of thousands of
objects) paused on each: in-process, 50 calls of 600 turns gave full passes of 86 to 251 ms, and
the five-minute ingestion run's ack p99 was 440 ms (bench.ingestion, SQLite). So every
FREEZE_SECONDS what survives a young collection is frozen (`gc.freeze`) and the full passes walk
only what is newer: the same run's p99 fell to 13 ms (PostgreSQL: 590 -> 40 ms). Once every
FULL_COLLECTION_SECONDS, and after a wave of closed sockets, everything is thawed and collected
once, so that garbage among the frozen objects is freed within that time.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import heapq
import logging
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from conversations import db

logger = logging.getLogger(__name__)

# Sockets closed since the last trim before another is worth it (~4 MiB of their state).
TRIM_AFTER_CLOSED = 100
# Quiet time after the last close before the trim: the rest of a wave of closes (a proxy
# restarting, a team going home) is closed, and Daphne has let go of it, by then.
TRIM_DELAY_SECONDS = 2.0
# Closes that never pause (a busy server's steady churn) are trimmed at least this often.
TRIM_MAX_WAIT_SECONDS = 30.0


# How often what survives a young collection is frozen out of the collector's passes: the full
# passes in between walk only what was promoted since.
FREEZE_SECONDS = 10.0
# Everything is collected, frozen or not, at least this often: cycles that became garbage after
# they were frozen wait at most this long.
FULL_COLLECTION_SECONDS = 600.0


def full_collection() -> int:
    """Thaw what was frozen and collect everything; the number of unreachable objects found."""
    gc.unfreeze()
    return gc.collect()


class Collector:
    """Keeps the process's full collections short, from its event loop: every FREEZE_SECONDS a
    young collection (what died young is freed, not frozen) and a freeze; a full collection
    instead once FULL_COLLECTION_SECONDS have gone by. Timer callbacks, not a task: a loop
    closed with one pending (tests) drops it silently."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._since_full = 0.0
        self._handle = loop.call_later(FREEZE_SECONDS, self.tick)

    def tick(self) -> None:
        self._since_full += FREEZE_SECONDS
        if self._since_full >= FULL_COLLECTION_SECONDS:
            self._since_full = 0.0
            began = time.perf_counter()
            found = full_collection()
            took_ms = round((time.perf_counter() - began) * 1000, 1)
            logger.info("full collection", extra={"unreachable": found, "ms": took_ms})
        else:
            gc.collect(1)
        gc.freeze()
        self._handle = self._loop.call_later(FREEZE_SECONDS, self.tick)


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_malloc_trim = _find_malloc_trim()


class Trimmer:
    """Counts closed sockets on one event loop and trims once they are many and quiet."""

    def __init__(self, trim: Callable[[int], int] | None = _malloc_trim) -> None:
        self._trim = trim
        self.closed = 0
        self._pending: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def socket_closed(self) -> None:
        if self._trim is None:
            return
        self.closed += 1
        if self.closed < TRIM_AFTER_CLOSED:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._waiting_since is None:
            self._waiting_since = now
        if self._pending is not None:
            self._pending.cancel()
        when = min(now + TRIM_DELAY_SECONDS, self._waiting_since + TRIM_MAX_WAIT_SECONDS)
        self._pending = loop.call_at(when, self._due)

    def _due(self) -> None:
        closed, self.closed, self._pending, self._waiting_since = self.closed, 0, None, None
        task = asyncio.get_running_loop().create_task(self._trim_after_the_database(closed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _trim_after_the_database(self, closed: int) -> None:
        try:
            await db.close_idle_connection()
        except Exception:  # the trim does not depend on it
            logger.warning("database connection not closed before the trim", exc_info=True)
        self.trim_now(closed)

    def trim_now(self, closed: int = 0) -> None:
        assert self._trim is not None
        began = time.perf_counter()
        purge_cancelled_timers()
        full_collection()  # the closed sockets' objects may have been frozen
        # After the collection, so that the old iterators are let go once the sockets' garbage is
        # gone. Where the fresh ones land is CPython's choice (it fills the pools freed last,
        # often the closed sockets'): they can still keep an arena or two (BENCHMARKS, session 7).
        release_survivors()
        self._trim(0)
        took_ms = round((time.perf_counter() - began) * 1000, 1)
        logger.info("memory trimmed", extra={"sockets_closed": closed, "ms": took_ms})


def purge_cancelled_timers() -> None:
    """Drop the cancelled timers that Twisted's reactor (Daphne's) still holds.

    Each HTTP channel Daphne opens, sockets included, sets Twisted's idle timeout (12 hours by
    default), cancelled when the socket closes. A cancelled timer stays in the reactor's heap
    until it is due, unless more than 50 are cancelled and they are over half the heap, when
    the reactor drops them all. So after a wave of closes up to 50 stay for 12 hours, each
    keeping a 1 MiB arena of small objects (tracemalloc, 1,000 sockets opened and closed: 25
    such timers among the ~600 blocks left). This does the reactor's own clean-up without
    the thresholds. Outside Daphne (no Twisted reactor imported) there is nothing to do.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    pending = getattr(reactor, "_pendingTimedCalls", None)
    new = getattr(reactor, "_newTimedCalls", None)
    if not isinstance(pending, list) or not isinstance(new, list):
        return
    live = [call for call in pending if not call.cancelled]
    heapq.heapify(live)
    reactor._pendingTimedCalls = live  # type: ignore[union-attr]
    # The reactor counts the cancelled timers in both lists; only the new ones remain.
    reactor._cancellations = sum(1 for call in new if call.cancelled)  # type: ignore[union-attr]


# Entries of `_asyncio`'s free list of future iterators (FI_FREELIST_MAXLEN in CPython 3.11-3.13).
_FUTURE_ITERATOR_FREE_LIST = 255


def release_survivors() -> None:
    """Let go of the few small objects that outlive the sockets they were made for, each of
    which keeps a CPython arena (1 MiB of small objects) from going back to the system.

    With tracemalloc on a server, 1,000 sockets opened and closed left ~1,100 objects behind
    (bench.capacity's "all closed" row stayed at 202 MiB, 77 before). Two caches held most:
    - the interpreter's attribute-lookup cache keeps the name last looked up in each slot:
      strings made while the sockets were open (a message type's handler name, Django's
      "as_" + vendor per compiled query);
    - `_asyncio` keeps up to 255 freed future iterators (one is made per `await` of a future)
      for reuse. Making twice that many at once and freeing the newest first refills the list
      with fresh ones, allocated where memory is in use already, and frees the old ones.
    """
    sys._clear_type_cache()
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(2 * _FUTURE_ITERATOR_FREE_LIST)]
    iterators = [future.__await__() for future in futures]
    reused, fresh = (
        iterators[:_FUTURE_ITERATOR_FREE_LIST],
        iterators[_FUTURE_ITERATOR_FREE_LIST:],
    )
    del iterators
    fresh.clear()  # back on the free list
    reused.clear()  # the list is full: freed
    for future in futures:
        future.cancel()


@dataclass(slots=True)
class _LoopMemory:
    trimmer: Trimmer
    collector: Collector


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopMemory] = (
    weakref.WeakKeyDictionary()
)


def _for_running_loop() -> _LoopMemory:
    loop = asyncio.get_running_loop()
    memory = _loops.get(loop)
    if memory is None:
        memory = _loops[loop] = _LoopMemory(Trimmer(), Collector(loop))
    return memory


def socket_opened() -> None:
    """Note that a signaling socket opened (from the consumer's `connect`): the process's
    collection policy starts with its first socket."""
    _for_running_loop()


def socket_closed() -> None:
    """Note that a signaling socket closed (from the consumer's `disconnect`)."""
    _for_running_loop().trimmer.socket_closed()
