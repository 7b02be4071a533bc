"""One call followed to its end: attach, record every batch, run the timers, settle the lease.

The network work is here; what it means is decided elsewhere — the record by
`conversations.services.record_events` (the pure transcript core inside), the lease by
`sideband.leases`, the timers by `sideband.timers`. What the watcher stores and ends is published
to the staff Live page (`live.broadcast`) after each commit, as the browser's relay does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from conversations import services
from limits import enforcement, selectors
from live import broadcast
from sideband import leases, timers
from sideband.leases import Claim
from sideband.socket import CallGone, SidebandSocket
from signaling import presence
from signaling.turns import turns_payload
from upstream import realtime
from upstream.errors import UpstreamError

logger = logging.getLogger(__name__)

UPSTREAM_ENDED = "upstream_ended"
CALL_GONE = "upstream_call_gone"
CONVERSATION_ENDED = "conversation_ended"


@dataclass(frozen=True, slots=True)
class WatchConfig:
    holder: str
    poll_seconds: float
    limits: timers.Limits


def _recordable(event: Mapping[str, Any] | None) -> bool:
    # Deltas are for a live display; the record is made of final events only.
    return event is not None and not str(event["type"]).endswith(".delta")


@database_sync_to_async
def _store(conversation_id: int, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = services.record_events(
        conversation_id=conversation_id, events=events, source="sideband"
    )
    return turns_payload(result.turns)


async def _record(conversation_id: int, events: list[dict[str, Any]]) -> None:
    """Store a batch, then show the turns it changed on the Live page (after the commit)."""
    await broadcast.turns_changed(conversation_id, await _store(conversation_id, events))


@database_sync_to_async
def _free(holder: str, conversation_id: int) -> None:
    leases.free(holder=holder, conversation_id=conversation_id)


@database_sync_to_async
@transaction.atomic
def _settle_record(holder: str, claim: Claim, reason: str) -> bool:
    """Release the lease for good and end the conversation (an earlier end keeps its reason).
    Watched from its first item to its end, the call's browser-only turns are flagged.
    False when another watcher took the call over: the ending is then its to record."""
    if not leases.finish(
        holder=holder, conversation_id=claim.conversation_id, reason=reason, now=timezone.now()
    ):
        return False
    services.end_conversation(conversation_id=claim.conversation_id, reason=reason)
    if claim.unbroken:
        services.flag_unconfirmed_turns(conversation_id=claim.conversation_id)
    return True


async def _finish(holder: str, claim: Claim, reason: str) -> None:
    if await _settle_record(holder, claim, reason):
        await broadcast.call_changed(claim.conversation_id)


class CallWatch:
    def __init__(self, claim: Claim, config: WatchConfig) -> None:
        self.claim, self.config = claim, config
        self.last_activity = timezone.now()
        self._socket: SidebandSocket | None = None
        self._giving_up = False  # shutdown or lease lost: leave the call to another watcher
        self._ending = ""  # why the watcher itself closed the call
        self._closing: set[asyncio.Task[None]] = set()
        self._usage = selectors.RunningUsage()  # the owner's period totals, read once

    def stop(self, *, ending: str = "") -> None:
        """Stop watching: `ending` says the call is over, without it the call is given up."""
        self._ending = self._ending or ending
        self._giving_up = self._giving_up or not ending
        if self._socket is not None:
            # Kept referenced until done: the loop holds only weak references to tasks.
            closing = asyncio.get_running_loop().create_task(self._socket.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def run(self) -> None:
        try:
            socket, early = await SidebandSocket.attach(self.claim.call_id)
        except CallGone:
            await _finish(self.config.holder, self.claim, CALL_GONE)
            return
        except UpstreamError as exc:
            logger.warning("sideband attach failed", extra=self._log(code=exc.code))
            await _free(self.config.holder, self.claim.conversation_id)
            return
        self._socket = socket
        logger.info("sideband attached", extra=self._log())
        await self._follow(socket, early)
        await self._settle(socket)

    async def _follow(self, socket: SidebandSocket, early: list[dict[str, Any]]) -> None:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        for event in early:
            queue.put_nowait(event)
        if self._giving_up or self._ending:
            await socket.close()  # stopped while attaching
        tasks = [asyncio.create_task(self._pump(socket, queue)), asyncio.create_task(self._tick())]
        try:
            await self._record_from(queue)
        finally:
            for task in tasks:
                task.cancel()
            await socket.close()

    async def _pump(self, socket: SidebandSocket, queue: asyncio.Queue[Any]) -> None:
        async for event in socket.events():
            self.last_activity = timezone.now()
            queue.put_nowait(event)
        queue.put_nowait(None)

    async def _record_from(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        """One transaction per batch: what arrived while the previous batch was being stored."""
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            events = [e for e in batch if _recordable(e)]
            if events:
                await _record(self.claim.conversation_id, events)
            if None in batch:
                return

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_seconds)
            try:
                reason = await self._overdue()
                if reason:
                    await self._hang_up(reason)
                    return
            except Exception:
                # The timers must outlive a failed roll call or database write: try again later.
                logger.exception("sideband timer failed", extra=self._log())

    async def _overdue(self) -> str | None:
        now, limits = timezone.now(), self.config.limits
        if timers.over_duration(now=now, started_at=self.claim.started_at, limits=limits):
            return timers.MAX_DURATION
        quiet = timers.quiet_too_long(now=now, last_activity=self.last_activity, limits=limits)
        # Asked only when quiet: the roll call costs a round trip, or its timeout.
        if quiet and not await presence.is_held(self.claim.conversation_id):
            return timers.IDLE
        # The owner's own limits.
        return await enforcement.overdue(self.claim.conversation_id, self._usage)

    async def _hang_up(self, reason: str) -> None:
        # Ended first, so that the reason is ours even if the socket closes before we record it.
        self._ending = reason
        await database_sync_to_async(services.end_conversation)(
            conversation_id=self.claim.conversation_id, reason=reason
        )
        await broadcast.call_changed(self.claim.conversation_id)
        await self._hang_up_upstream()
        logger.info("sideband hung up", extra=self._log(reason=reason))
        self.stop(ending=reason)

    async def _hang_up_upstream(self) -> None:
        try:
            await realtime.hangup(self.claim.call_id)
        except UpstreamError as exc:
            # The record still ends: a call we cannot reach ends upstream at its own limit.
            logger.warning("sideband hangup failed", extra=self._log(code=exc.code))

    async def _settle(self, socket: SidebandSocket) -> None:
        if self._giving_up:
            await _free(self.config.holder, self.claim.conversation_id)
        elif self._ending or socket.ended_upstream:
            if self._ending == CONVERSATION_ENDED:
                # Ended in the database (the page, an admin, a failure): the call must not go on.
                await self._hang_up_upstream()
            if not self._ending:
                # The user's own "end" may be hanging up this very moment: let its reason land.
                await asyncio.sleep(self.config.poll_seconds)
            await _finish(self.config.holder, self.claim, self._ending or UPSTREAM_ENDED)
        else:
            # Connection lost, call maybe alive: free the lease so the call is re-attached.
            logger.warning("sideband lost", extra=self._log(code=socket.close_code))
            await _free(self.config.holder, self.claim.conversation_id)

    def _log(self, **extra: Any) -> dict[str, Any]:
        return {
            "conversation_id": self.claim.conversation_id,
            "call_id": self.claim.call_id,
        } | extra
