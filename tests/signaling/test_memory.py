"""Memory is handed back once a wave of sockets has closed, once per wave, never per close; and
at least every so often when closes never pause. (Orderings of the loop's timers, not durations.)"""

from __future__ import annotations

import asyncio
import platform
import sys
import weakref

import pytest
from twisted.internet.base import ReactorBase

from signaling import memory


class CountingTrim:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "TRIM_AFTER_CLOSED", 3)
    monkeypatch.setattr(memory, "TRIM_DELAY_SECONDS", 0.01)
    monkeypatch.setattr(memory, "TRIM_MAX_WAIT_SECONDS", 0.02)


@pytest.mark.asyncio
async def test_a_wave_of_closes_is_trimmed_once_after_the_delay(quick: None) -> None:
    trim = CountingTrim()
    trimmer = memory.Trimmer(trim)

    for _ in range(2):
        trimmer.socket_closed()
    await asyncio.sleep(0.05)
    assert trim.calls == []  # two closes are not worth a walk of the heap

    for _ in range(10):
        trimmer.socket_closed()
    assert trim.calls == []  # not while the wave is still closing
    await asyncio.sleep(0.05)
    assert trim.calls == [0]
    assert trimmer.closed == 0  # counting starts again for the next wave


@pytest.mark.asyncio
async def test_steady_closes_still_trim_and_without_malloc_trim_nothing_is_counted(
    quick: None,
) -> None:
    trim = CountingTrim()
    trimmer = memory.Trimmer(trim)
    for _ in range(12):  # a close every few milliseconds, never a quiet moment
        trimmer.socket_closed()
        await asyncio.sleep(0.004)
    await asyncio.sleep(0.05)
    assert len(trim.calls) >= 2

    without = memory.Trimmer(None)
    for _ in range(10):
        without.socket_closed()
    assert without.closed == 0


def test_malloc_trim_is_found_exactly_where_the_c_library_is_glibc() -> None:
    assert (memory._malloc_trim is not None) == (platform.libc_ver()[0] == "glibc")


class RecordingGc:
    """Stands in for the gc module: what the collector was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def collect(self, generation: int = 2) -> int:
        self.calls.append(f"collect({generation})")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")


@pytest.mark.asyncio
async def test_survivors_are_frozen_after_a_young_collection_and_all_is_collected_now_and_then(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = RecordingGc()
    monkeypatch.setattr(memory, "gc", fake)
    monkeypatch.setattr(memory, "FREEZE_SECONDS", 0.001)
    monkeypatch.setattr(memory, "FULL_COLLECTION_SECONDS", 0.003)
    collector = memory.Collector(asyncio.get_running_loop())

    for _ in range(3):
        collector.tick()

    young = ["collect(1)", "freeze"]
    assert fake.calls == [*young, *young, "unfreeze", "collect(2)", "freeze"]


@pytest.mark.asyncio
async def test_a_trim_collects_the_frozen_too(monkeypatch: pytest.MonkeyPatch, quick: None) -> None:
    fake = RecordingGc()
    monkeypatch.setattr(memory, "gc", fake)
    trimmer = memory.Trimmer(CountingTrim())

    trimmer.trim_now()

    assert fake.calls == ["unfreeze", "collect(2)"]


class Looked:
    attribute = 1


@pytest.mark.asyncio
async def test_names_looked_up_while_sockets_were_open_are_let_go() -> None:
    name = "".join(["attri", "bute"])  # made at run time, like a message's handler name
    getattr(Looked, name)
    cached = sys.getrefcount(name)

    memory.release_survivors()

    assert sys.getrefcount(name) < cached  # the interpreter's lookup cache held it


def iterators_made(loop: asyncio.AbstractEventLoop, count: int) -> set[int]:
    """The addresses of `count` future iterators (one is made per `await` of a future), all
    freed on return: back to `_asyncio`'s free list, as many as it holds."""
    iterators = [loop.create_future().__await__() for _ in range(count)]
    return {id(iterator) for iterator in iterators}


@pytest.mark.asyncio
async def test_future_iterators_kept_for_reuse_are_replaced_by_fresh_ones() -> None:
    loop = asyncio.get_running_loop()
    size = memory._FUTURE_ITERATOR_FREE_LIST
    kept_before = iterators_made(loop, size)
    assert iterators_made(loop, size) == kept_before  # reused from the free list

    memory.release_survivors()

    assert iterators_made(loop, size).isdisjoint(kept_before)


class TimerHeapReactor(ReactorBase):
    """Twisted's reactor base, with its timer heap and nothing to wait on (no waker)."""

    def installWaker(self) -> None:
        pass


def test_cancelled_twisted_timers_are_dropped_from_the_reactor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reactor = TimerHeapReactor()
    monkeypatch.setitem(sys.modules, "twisted.internet.reactor", reactor)
    kept = reactor.callLater(3600, lambda: None)
    closed = [reactor.callLater(3600, lambda: None) for _ in range(30)]
    reactor.runUntilCurrent()  # each turn of the reactor moves new timers into its heap
    for call in closed:
        call.cancel()
    cancelled = weakref.ref(closed[0])
    del call, closed
    reactor.runUntilCurrent()
    assert cancelled() is not None  # fewer than 50: Twisted keeps them until they are due

    memory.purge_cancelled_timers()

    assert cancelled() is None
    assert reactor.getDelayedCalls() == [kept]
    due = reactor.callLater(0, lambda: None)
    reactor.runUntilCurrent()
    assert due.called  # the heap still works


def test_without_a_twisted_reactor_there_is_nothing_to_purge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "twisted.internet.reactor", raising=False)

    memory.purge_cancelled_timers()  # no error, nothing imported
    assert "twisted.internet.reactor" not in sys.modules


@pytest.mark.asyncio
async def test_a_trim_refills_the_free_list_after_the_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps: list[str] = []
    monkeypatch.setattr(memory, "purge_cancelled_timers", lambda: steps.append("purge"))
    monkeypatch.setattr(memory, "full_collection", lambda: steps.append("collect") or 0)
    monkeypatch.setattr(memory, "release_survivors", lambda: steps.append("release"))

    memory.Trimmer(lambda pad: steps.append("malloc_trim") or 1).trim_now()

    assert steps == ["purge", "collect", "release", "malloc_trim"]


@pytest.mark.asyncio
async def test_a_wave_closes_the_idle_database_connection_before_the_trim(
    monkeypatch: pytest.MonkeyPatch, quick: None
) -> None:
    steps: list[str] = []

    async def close_idle_connection() -> None:
        steps.append("close connection")

    monkeypatch.setattr(memory.db, "close_idle_connection", close_idle_connection)
    trimmer = memory.Trimmer(lambda pad: steps.append("malloc_trim") or 1)

    for _ in range(3):
        trimmer.socket_closed()
    await asyncio.sleep(0.05)

    assert steps == ["close connection", "malloc_trim"]
