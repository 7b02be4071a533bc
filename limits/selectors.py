"""Reads: a user's effective limits, their usage per period and per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, Prefetch
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
    README: a deterministic choice the admin can see, rather than a per-field mix of groups)."""
    own = LimitPolicy.objects.filter(user=user).first()
    if own is not None:
        return own
    groups = LimitPolicy.objects.filter(group__user=user).order_by("group__name")
    return groups.first()


def effective_limits(user: Any) -> Limits:
    """Policy fields that are set, the global settings for the rest."""
    base, policy = global_limits(), policy_for(user)
    if policy is None:
        return base
    values = {name: getattr(policy, name) for name in _FIELDS}
    return Limits(**{k: getattr(base, k) if v is None else v for k, v in values.items()})


def conversation_cost(conversation: Conversation) -> float:
    """USD, from the kept raw usage; 0 for a model without a price row (check limits.W001)."""
    price = settings.REALTIME_PRICES.get(conversation.model)
    if price is None:
        return 0.0
    return sum(pricing.response_cost(row.usage, price) for row in conversation.responses.all())


def call_seconds(conversation: Conversation, now: datetime) -> float:
    """Voice time: from start to end (to now while running). Text chats use no minutes."""
    if conversation.transport != Conversation.Transport.WEBRTC:
        return 0.0
    return max(((conversation.ended_at or now) - conversation.started_at).total_seconds(), 0.0)


def _conversations(user: Any, since: datetime) -> list[Conversation]:
    usage_rows = Prefetch("responses", queryset=ResponseUsage.objects.only("conversation", "usage"))
    found = Conversation.objects.owned_by(user).filter(started_at__gte=since)
    fields = ("owner", "started_at", "ended_at", "model", "transport")
    return list(found.only(*fields).prefetch_related(usage_rows))


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
