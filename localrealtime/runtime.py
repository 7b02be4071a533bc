"""The engine's process-wide parts, built from settings on first use: the recognition pool,
the session slots, the live calls, and a watch on the event loop's lag."""

from __future__ import annotations

import asyncio
import functools
import time

from django.conf import settings

from localrealtime.registry import InMemoryCallRegistry, SessionSlots
from localrealtime.speech.recognition import Recognizer

calls: InMemoryCallRegistry = InMemoryCallRegistry()


@functools.cache
def slots() -> SessionSlots:
    return SessionSlots(settings.LOCAL_REALTIME_MAX_SESSIONS)


@functools.cache
def recognizer() -> Recognizer:
    return Recognizer(
        processes=settings.LOCAL_REALTIME_DECODER_PROCESSES,
        queue=settings.LOCAL_REALTIME_DECODER_QUEUE,
    )


class LoopLagMonitor:
    """Sleeps in short steps and records the worst overshoot: how long the loop was stalled."""

    STEP_SECONDS = 0.05

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.STEP_SECONDS)
            lag_ms = (time.monotonic() - started - self.STEP_SECONDS) * 1000
            self.worst_ms = max(self.worst_ms, lag_ms)


loop_lag = LoopLagMonitor()
