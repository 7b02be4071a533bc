"""The watcher loop: claim the calls that need a watcher, keep their leases, hand each to a
`CallWatch`. One loop per process; any number of processes (the leases keep one per call).

Stopping: `stop()` (SIGTERM) gives every call up, so another watcher re-attaches at once.
Cancelling the task — what a crash amounts to — writes nothing: the leases expire and another
watcher takes the calls over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from sideband import leases, timers
from sideband.leases import Claim
from sideband.watch import CONVERSATION_ENDED, CallWatch, WatchConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WatcherConfig:
    lease_seconds: float
    poll_seconds: float
    idle_seconds: float
    max_call_seconds: float
    max_calls: int = 500

    @classmethod
    def from_settings(cls, *, max_calls: int = 500) -> WatcherConfig:
        return cls(
            lease_seconds=settings.SIDEBAND_LEASE_SECONDS,
            poll_seconds=settings.SIDEBAND_POLL_SECONDS,
            idle_seconds=settings.SIDEBAND_IDLE_TIMEOUT_SECONDS,
            max_call_seconds=settings.SIDEBAND_MAX_CALL_SECONDS,
            max_calls=max_calls,
        )


def new_holder_id() -> str:
    """Unique per process and start: a restarted watcher must not inherit its old leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Watcher:
    def __init__(self, config: WatcherConfig, *, holder: str | None = None) -> None:
        self.config = config
        self.holder = holder or new_holder_id()
        # Every call this watcher has claimed, in order (for logs and tests).
        self.claimed: list[int] = []
        self._watches: dict[int, tuple[CallWatch, asyncio.Task[None]]] = {}
        self._stopping = asyncio.Event()
        self._watch_config = WatchConfig(
            holder=self.holder,
            poll_seconds=config.poll_seconds,
            limits=timers.Limits(config.idle_seconds, config.max_call_seconds),
        )

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        logger.info("sideband watcher started", extra={"holder": self.holder})
        try:
            while not self._stopping.is_set():
                try:
                    await self.tick()
                except DatabaseError:
                    # Calls keep being recorded if the database comes back before the leases
                    # expire; otherwise other watchers have taken them and the next tick says so.
                    logger.exception("sideband heartbeat failed", extra={"holder": self.holder})
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.poll_seconds):
                        await self._stopping.wait()
        finally:
            await self._wind_down()

    async def tick(self) -> None:
        """One heartbeat: renew the leases, drop the lost and ended calls, claim new ones."""
        now = timezone.now()
        renewal = await database_sync_to_async(leases.renew)(
            holder=self.holder,
            conversation_ids=list(self._watches),
            now=now,
            lease_seconds=self.config.lease_seconds,
        )
        for conversation_id, (watch, _) in list(self._watches.items()):
            if conversation_id not in renewal.held:
                watch.stop()
            elif conversation_id in renewal.ended:
                watch.stop(ending=CONVERSATION_ENDED)
        claims = await database_sync_to_async(leases.claim)(
            holder=self.holder,
            now=now,
            lease_seconds=self.config.lease_seconds,
            limit=self.config.max_calls - len(self._watches),
        )
        for claim in claims:
            self._start(claim)

    def _start(self, claim: Claim) -> None:
        watch = CallWatch(claim, self._watch_config)
        task = asyncio.get_running_loop().create_task(watch.run())
        self._watches[claim.conversation_id] = (watch, task)
        self.claimed.append(claim.conversation_id)
        task.add_done_callback(lambda done: self._done(claim.conversation_id, done))

    def _done(self, conversation_id: int, task: asyncio.Task[None]) -> None:
        if self._watches.get(conversation_id, (None, None))[1] is task:
            del self._watches[conversation_id]
        if not task.cancelled() and task.exception() is not None:
            # The lease is left to expire: the call is re-attached by whoever claims it next.
            logger.error("sideband watch failed", exc_info=task.exception())

    async def _wind_down(self) -> None:
        tasks = [task for _, task in self._watches.values()]
        if self._stopping.is_set():
            for watch, _ in self._watches.values():
                watch.stop()
        else:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        logger.info("sideband watcher stopped", extra={"holder": self.holder})
