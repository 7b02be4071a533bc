"""Reads: a user's effective limits, their usage per period and per day."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.models import Conversation, ResponseUsage, Turn
from limits import pricing
from limits.models import LimitPolicy
from limits.rules import Limits, Usage

_FIELDS = tuple(Limits.__dataclass_fields__)


def global_limits() -> Limits:
    return Limits(**{name: getattr(settings, f"LIMITS_{name.upper()}") for name in _FIELDS})


def policy_for(user: Any) -> LimitPolicy | None:
    """The user's own policy, else the first of their groups' by group name (documented in the
    README: a deterministic choice the admin can see, rather than a per-field mix of groups).
    One query: every call's admission reads it."""
    candidates = LimitPolicy.objects.filter(Q(user=user) | Q(group__user=user))
    # A group's policy has no user: own policy first, then the groups' by name.
    return candidates.order_by(F("user").asc(nulls_last=True), "group__name").first()


def effective_limits(user: Any) -> Limits:
    """Policy fields that are set, the global settings for the rest."""
    return _merged(policy_for(user))


def _merged(policy: LimitPolicy | None) -> Limits:
    base = global_limits()
    if policy is None:
        return base
    values = {name: getattr(policy, name) for name in _FIELDS}
    return Limits(**{k: getattr(base, k) if v is None else v for k, v in values.items()})


def admission(user: Any) -> tuple[Limits, int]:
    """The user's effective limits and running voice calls (`active_calls`): what admitting a
    call reads, in one query while the user has no policy (two with one). In a transaction on a
    database with row locks, the user's row is locked first: two starts of one user (two tabs)
    are then admitted one after the other."""
    if connection.in_atomic_block and connection.features.has_select_for_update:
        # A statement of its own: PostgreSQL reads the rest of a locking statement with the
        # snapshot taken before it waited, which misses the call the lock's holder committed
        # (tests/limits/test_admission.py fails with the lock folded into the read).
        users = get_user_model().objects.select_for_update().filter(pk=user.pk)
        list(users.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(_admission_sql(), [user.pk, Conversation.Transport.WEBRTC, user.pk, user.pk])
        active, own, group = cursor.fetchone()
    policy_id = own or group
    policy = LimitPolicy.objects.get(pk=policy_id) if policy_id is not None else None
    return _merged(policy), active


@functools.cache
def _admission_sql() -> str:
    """`active_calls`, the user's own policy and their first group's by name (`policy_for`), as
    one statement written out: built by the ORM, the same query took most of an admission's CPU
    (two thirds of it compiling; bench.broker, py-spy). tests/limits/test_policy.py and
    test_standing.py hold it to what those selectors read."""
    name = connection.ops.quote_name
    conversations = name(Conversation._meta.db_table)
    policies = name(LimitPolicy._meta.db_table)
    memberships = name(get_user_model().groups.through._meta.db_table)
    groups = name(Group._meta.db_table)
    return (
        f"SELECT (SELECT COUNT(*) FROM {conversations} WHERE owner_id = %s"
        " AND ended_at IS NULL AND transport = %s),"
        f" (SELECT id FROM {policies} WHERE user_id = %s),"
        f" (SELECT p.id FROM {policies} p JOIN {memberships} m ON m.group_id = p.group_id"
        f" JOIN {groups} g ON g.id = p.group_id WHERE m.user_id = %s ORDER BY g.name LIMIT 1)"
    )


def conversation_cost(conversation: Conversation) -> float:
    """USD, from the kept raw usage; 0 for a model without a price row (check limits.W001)."""
    price = settings.REALTIME_PRICES.get(conversation.model)
    if price is None:
        return 0.0
    return sum(pricing.response_cost(row.usage, price) for row in conversation.responses.all())


def call_seconds(conversation: Conversation, now: datetime) -> float:
    """Voice time: from start to end (to now while running). Text chats use no minutes."""
    return _seconds(conversation.transport, conversation.started_at, conversation.ended_at, now)


def _seconds(
    transport: str, started_at: datetime, ended_at: datetime | None, now: datetime
) -> float:
    if transport != Conversation.Transport.WEBRTC:
        return 0.0
    return max(((ended_at or now) - started_at).total_seconds(), 0.0)


def _started_since(user: Any, since: datetime) -> QuerySet[Conversation]:
    """The user's conversations started since `since`, with what their usage needs (2 queries)."""
    usage_rows = Prefetch("responses", queryset=ResponseUsage.objects.only("conversation", "usage"))
    found = Conversation.objects.owned_by(user).filter(started_at__gte=since)
    fields = ("owner", "started_at", "ended_at", "model", "transport")
    return found.only(*fields).prefetch_related(usage_rows)


def _conversations(user: Any, since: datetime) -> list[Conversation]:
    return list(_started_since(user, since))


def _sum(conversations: list[Conversation], now: datetime) -> Usage:
    seconds = sum(call_seconds(c, now) for c in conversations)
    return Usage(seconds=seconds, cost_usd=sum(conversation_cost(c) for c in conversations))


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """The start of today and of this month in the site's time zone (settings.TIME_ZONE)."""
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return today, today.replace(day=1)


def period_usage(user: Any, now: datetime) -> tuple[Usage, Usage]:
    """(today, this month). A call counts in the period it started in."""
    today, month = period_starts(now)
    conversations = _conversations(user, month)
    todays = [c for c in conversations if c.started_at >= today]
    return _sum(todays, now), _sum(conversations, now)


@dataclass(frozen=True, slots=True)
class Standing:
    """What admitting a new call reads: usage today and this month, and the voice calls running."""

    today: Usage
    month: Usage
    active_calls: int


def standing(user: Any, now: datetime) -> Standing:
    """`period_usage(user, now)` and `active_calls(user)` in two queries whose cost in Python
    does not grow with the month's calls: the minutes and the running calls summed by the
    database, then the usage rows (priced here: a price is per token kind of the raw usage). It
    runs in the transaction that opens every call."""
    today_start, month_start = period_starts(now)
    voice = Q(transport=Conversation.Transport.WEBRTC)
    # `call_seconds` counts a negative length (clocks apart) as 0: such rows are left out.
    counted = voice & (
        Q(ended_at__gte=F("started_at")) | Q(ended_at=None, started_at__lte=Value(now))
    )
    length = ExpressionWrapper(
        Coalesce("ended_at", Value(now, output_field=DateTimeField())) - F("started_at"),
        output_field=DurationField(),
    )
    totals = Conversation.objects.owned_by(user).aggregate(
        month=Sum(length, filter=counted & Q(started_at__gte=month_start)),
        today=Sum(length, filter=counted & Q(started_at__gte=today_start)),
        running=Count("pk", filter=voice & Q(ended_at=None)),
    )
    usage_rows = ResponseUsage.objects.filter(
        conversation__owner=user, conversation__started_at__gte=month_start
    ).values_list("conversation__model", "conversation__started_at", "usage")
    cost_today = cost_month = 0.0
    for model, started_at, usage in usage_rows:
        price = settings.REALTIME_PRICES.get(model)
        cost = pricing.response_cost(usage, price) if price is not None else 0.0
        cost_month += cost
        cost_today += cost if started_at >= today_start else 0.0
    return Standing(
        today=Usage(seconds=_total_seconds(totals["today"]), cost_usd=cost_today),
        month=Usage(seconds=_total_seconds(totals["month"]), cost_usd=cost_month),
        active_calls=totals["running"],
    )


def _total_seconds(summed: timedelta | None) -> float:
    return summed.total_seconds() if summed is not None else 0.0


# A call that ended this long ago is settled: its minutes and cost are final, so a running call's
# checks sum them once instead of every few seconds. The margin covers what may still land after
# an end (the page's last batch, sent up to 5 s later; the watcher's, a poll later) and an end
# committed a little after the time it records, and clocks a little apart between processes.
SETTLED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class _Settled:
    user_id: Any
    periods: tuple[datetime, datetime]
    cutoff: datetime
    day: Usage
    month: Usage


def _plus(a: Usage, b: Usage) -> Usage:
    return Usage(seconds=a.seconds + b.seconds, cost_usd=a.cost_usd + b.cost_usd)


class RunningUsage:
    """`period_usage` for the checks repeated during a call, in a number of queries that does
    not grow with the month's conversations.

    The calls that had ended `SETTLED_AFTER` before the first check are read and summed once
    (again when the day or the user changes); each check reads only the others: the calls still
    running and those that ended since that cutoff. A call of the user's that ends meanwhile is
    so counted exactly once, with its end. Not seen until the next day: usage stored for a call
    more than `SETTLED_AFTER` after its end, and a settled call deleted meanwhile."""

    def __init__(self) -> None:
        self._settled: _Settled | None = None

    def at(self, user: Any, now: datetime) -> tuple[Usage, Usage]:
        """(today, this month), as `period_usage(user, now)` gives them."""
        settled = self._settled_for(user, now)
        today_start, month_start = settled.periods
        unsettled = Q(ended_at=None) | Q(ended_at__gte=settled.cutoff)
        recent = list(_started_since(user, month_start).filter(unsettled))
        todays = [c for c in recent if c.started_at >= today_start]
        return _plus(settled.day, _sum(todays, now)), _plus(settled.month, _sum(recent, now))

    def _settled_for(self, user: Any, now: datetime) -> _Settled:
        periods = period_starts(now)
        cached = self._settled
        if cached is None or (cached.user_id, cached.periods) != (user.pk, periods):
            cached = self._settled = _settle(user, now, periods)
        return cached


def _settle(user: Any, now: datetime, periods: tuple[datetime, datetime]) -> _Settled:
    cutoff = now - SETTLED_AFTER
    ended = list(_started_since(user, periods[1]).filter(ended_at__lt=cutoff))
    todays = [c for c in ended if c.started_at >= periods[0]]
    return _Settled(user.pk, periods, cutoff, _sum(todays, now), _sum(ended, now))


def active_calls(user: Any) -> int:
    """Voice calls not ended yet (the stale-call sweeper ends those whose process died)."""
    running = Conversation.objects.owned_by(user).filter(ended_at__isnull=True)
    return running.filter(transport=Conversation.Transport.WEBRTC).count()


def last_activity(conversation: Conversation) -> datetime:
    """When the call last had a turn (speech, transcribed), or its start."""
    latest = Turn.objects.filter(conversation=conversation).aggregate(at=Max("created_at"))["at"]
    return max(latest or conversation.started_at, conversation.started_at)


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    minutes: float
    cost_usd: float


def daily_usage(user: Any, *, days: int = 30, now: datetime | None = None) -> list[DayUsage]:
    """One row per day, oldest first, the last `days` days including today (empty days too)."""
    now = now or timezone.now()
    first = period_starts(now)[0] - timedelta(days=days - 1)
    by_day: dict[date, list[Conversation]] = {}
    for conversation in _conversations(user, first):
        by_day.setdefault(timezone.localtime(conversation.started_at).date(), []).append(
            conversation
        )
    rows = []
    for offset in range(days):
        day = (first + timedelta(days=offset)).date()
        used = _sum(by_day.get(day, []), now)
        rows.append(DayUsage(day=day, minutes=used.seconds / 60, cost_usd=used.cost_usd))
    return rows
