"""Memory is handed back once a wave of sockets has closed, once per wave, never per close; and
at least every so often when closes never pause. (Orderings of the loop's timers, not durations.)"""

from __future__ import annotations

import asyncio
import platform
import sys

import pytest

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
