"""Fixtures for the sideband watcher: the local engine as the upstream, brokered calls started
the way the signaling flow starts them, and watchers run in-process with short timings."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async

from sideband.watcher import Watcher, WatcherConfig
from signaling import calls
from tests.engine.client import Caller
from tests.engine.conftest import (
    MAX_SESSIONS,
    ROOT,
    SERVER_KEY,
    Engine,
    _wait_until_answering,
    as_upstream,
)
from tests.environment import free_port
from tests.live.conftest import team  # noqa: F401  (the cross-process deployment)
from tests.signaling.client import session_cookie
from upstream import realtime

T = TypeVar("T")
# Short enough for tests, long enough that a loaded machine keeps its heartbeats.
FAST = WatcherConfig(lease_seconds=3, poll_seconds=0.3, idle_seconds=3600, max_call_seconds=3600)


@pytest.fixture(scope="session")
def standalone_engine() -> Iterator[Engine]:
    """`manage.py localrealtime` on a free port, as tests/engine starts it, but without
    REDIS_URL: a standalone engine is one process and needs no channel layer. (With one, under
    redis-py 8 every consumer's idle channel-layer read times out after 5 s and its socket is
    closed with 1011 — the sideband too; see the sideband report.)"""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env |= {
        "DEBUG": "1",
        "LOCAL_REALTIME_API_KEY": SERVER_KEY,
        "LOCAL_REALTIME_MAX_SESSIONS": str(MAX_SESSIONS),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "localrealtime", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    origin = f"http://127.0.0.1:{port}"
    running = Engine(origin, f"{origin}/local-realtime/v1", SERVER_KEY, MAX_SESSIONS, process)
    try:
        _wait_until_answering(running)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest_asyncio.fixture
async def upstream_is_engine(settings: Any, standalone_engine: Engine) -> AsyncIterator[Engine]:
    yield as_upstream(settings, standalone_engine)
    await realtime.close_client()  # in the test's loop, which ends with the test


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
    await calls.connected(state)  # as the consumer does once the answer is sent
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
