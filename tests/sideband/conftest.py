"""Fixtures for the sideband watcher: the local engine as the upstream, brokered calls started
the way the signaling flow starts them, and watchers run in-process with short timings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async

from sideband.watcher import Watcher, WatcherConfig
from signaling import calls
from tests.engine.client import Caller
from tests.engine.conftest import Engine, engine  # noqa: F401 (the session-wide engine fixture)
from tests.signaling.client import session_cookie
from upstream import realtime

T = TypeVar("T")
# Short enough for tests, long enough that a loaded machine keeps its heartbeats.
FAST = WatcherConfig(lease_seconds=3, poll_seconds=0.3, idle_seconds=3600, max_call_seconds=3600)


@pytest.fixture
def upstream_is_engine(settings: Any, engine: Engine) -> Engine:  # noqa: F811
    settings.OPENAI_BASE_URL = engine.base_url
    settings.REALTIME_API_KEY = engine.key
    # The engine runs in its own process here, not embedded in the app under test.
    settings.LOCAL_REALTIME_ENABLED = False
    return engine


@pytest.fixture
def owner_cookie(owner_client: Any) -> str:
    return session_cookie(owner_client)


@dataclass
class BrokeredCall:
    """A call brokered through the signaling flow, with an aiortc caller as the browser."""

    state: calls.CallState
    caller: Caller

    @property
    def conversation_id(self) -> int:
        return self.state.conversation_id


@pytest_asyncio.fixture
async def brokered_call(upstream_is_engine: Engine, owner: Any) -> AsyncIterator[BrokeredCall]:
    caller = Caller()
    state = await calls.start_call(owner=owner, mode="brokered", voice=None)
    await caller.accept(await calls.answer_offer(state, await caller.offer()))
    await caller.wait_for("session.created")
    yield BrokeredCall(state, caller)
    await caller.close()
    with contextlib.suppress(Exception):
        await realtime.hangup(state.call_id)
    await realtime.close_client()


class RunningWatchers:
    """Watchers running as tasks of the test's loop; all are cancelled at the end."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.watchers: dict[str, Watcher] = {}

    def start(self, name: str, config: WatcherConfig = FAST) -> Watcher:
        watcher = Watcher(config, holder=f"test-{name}")
        self.watchers[name] = watcher
        self.tasks[name] = asyncio.get_running_loop().create_task(watcher.run())
        return watcher

    async def kill(self, name: str) -> None:
        """What a crash amounts to: the task is cancelled and writes nothing more."""
        task = self.tasks.pop(name)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def stop_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


@pytest_asyncio.fixture
async def watchers() -> AsyncIterator[RunningWatchers]:
    running = RunningWatchers()
    yield running
    await running.stop_all()


async def eventually(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 30
) -> T:
    """Poll `fetch` until `done(value)`; fails with the last value after `within` seconds."""
    value = await fetch()
    deadline = asyncio.get_running_loop().time() + within
    while not done(value):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not done within {within} s: {value!r}")
        await asyncio.sleep(0.2)
        value = await fetch()
    return value


def sync(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    return database_sync_to_async(function)
