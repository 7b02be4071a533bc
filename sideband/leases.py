"""The lease's one write path: claim calls, renew (the heartbeat), free, finish.

Each function is one transaction. A claim selects candidate rows with
`select_for_update(skip_locked=True)` — on PostgreSQL concurrent watchers skip each other's rows
instead of queueing — and then takes each one with a conditional UPDATE (still free or expired,
claim count unchanged), which alone is enough on SQLite, where row locks do not exist and the
database serialises writers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F

from conversations.models import Conversation
from sideband.models import CallLease, watchable_conversations


@dataclass(frozen=True, slots=True)
class Claim:
    """A call now watched by the claimer. `unbroken`: nothing of it can have been missed yet."""

    conversation_id: int
    call_id: str
    started_at: datetime
    unbroken: bool


@dataclass(frozen=True, slots=True)
class Renewal:
    """The heartbeat's answer: the calls still held, and which of them have ended meanwhile."""

    held: frozenset[int]
    ended: frozenset[int]


def _open_missing_leases() -> None:
    missing = watchable_conversations().filter(sideband_lease=None).values_list("pk", flat=True)
    CallLease.objects.bulk_create(
        [CallLease(conversation_id=pk) for pk in missing], ignore_conflicts=True
    )


@transaction.atomic
def claim(*, holder: str, now: datetime, lease_seconds: float, limit: int) -> list[Claim]:
    """Take up to `limit` calls that need a watcher (never one another watcher holds)."""
    if limit <= 0:
        return []
    _open_missing_leases()
    candidates = (
        CallLease.objects.select_for_update(skip_locked=True, of=("self",))
        .claimable(now)
        .filter(conversation__in=watchable_conversations())
        .select_related("conversation")
        .order_by("conversation_id")[:limit]
    )
    expires_at = now + timedelta(seconds=lease_seconds)
    return [c for lease in candidates if (c := _take(lease, holder, now, expires_at))]


def _take(lease: CallLease, holder: str, now: datetime, expires_at: datetime) -> Claim | None:
    conversation: Conversation = lease.conversation
    # A second claim means a gap in watching; turns stored before the first mean a late start.
    unbroken = lease.unbroken and lease.claims == 0 and not conversation.turns.exists()
    taken = (
        CallLease.objects.claimable(now)
        .filter(pk=lease.pk, claims=lease.claims)
        .update(holder=holder, expires_at=expires_at, claims=F("claims") + 1, unbroken=unbroken)
    )
    if not taken:
        return None
    return Claim(conversation.pk, conversation.upstream_call_id, conversation.started_at, unbroken)


@transaction.atomic
def renew(
    *, holder: str, conversation_ids: Collection[int], now: datetime, lease_seconds: float
) -> Renewal:
    """Extend the holder's leases; a lease another watcher took over is not extended."""
    mine = CallLease.objects.held_by(holder).filter(conversation_id__in=conversation_ids)
    mine.update(expires_at=now + timedelta(seconds=lease_seconds))
    held = frozenset(mine.values_list("conversation_id", flat=True))
    ended = held - set(watchable_conversations().filter(pk__in=held).values_list("pk", flat=True))
    return Renewal(held, frozenset(ended))


@transaction.atomic
def free(*, holder: str, conversation_id: int) -> bool:
    """Give a call up unfinished (shutdown, lost socket): any watcher may claim it at once."""
    mine = CallLease.objects.held_by(holder).filter(conversation_id=conversation_id)
    return bool(mine.update(holder="", expires_at=None))


@transaction.atomic
def finish(*, holder: str, conversation_id: int, reason: str, now: datetime) -> bool:
    """The call is over: the lease is released for good. False if the holder had lost it."""
    mine = CallLease.objects.held_by(holder).filter(conversation_id=conversation_id)
    return bool(mine.update(holder="", expires_at=None, finished_at=now, finish_reason=reason))
