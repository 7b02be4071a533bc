"""A running call's limit checks read the owner's settled usage once, not at every check, and
stay exactly `period_usage` — also when another of the owner's calls ends between two checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, ResponseUsage
from limits import enforcement, selectors
from limits.rules import Usage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"  # so that NOW's day and month are the ones written here


def call(
    owner: Any, start: datetime, *, seconds: float | None = None, tokens: int = 1000
) -> Conversation:
    """A voice call from `start`, ended `seconds` later (None: still running), with one
    response of `tokens` audio input tokens."""
    ended = None if seconds is None else start + timedelta(seconds=seconds)
    conversation = Conversation.objects.create(
        owner=owner,
        transport="webrtc",
        mode="brokered",
        model="gpt-realtime-2.1",
        status="active" if ended is None else "ended",
        started_at=start,
        ended_at=ended,
    )
    respond(conversation, "resp_1", tokens)
    return conversation


def respond(conversation: Conversation, response_id: str, tokens: int) -> None:
    usage = {"input_tokens": tokens, "input_token_details": {"audio_tokens": tokens}}
    ResponseUsage.objects.create(conversation=conversation, response_id=response_id, usage=usage)


def same(cached: tuple[Usage, Usage], exact: tuple[Usage, Usage]) -> bool:
    """Equal figures, up to the order in which the sums were added."""

    def figures(usages: tuple[Usage, Usage]) -> tuple[float, ...]:
        day, month = usages
        return (day.seconds, day.cost_usd, month.seconds, month.cost_usd)

    return figures(cached) == pytest.approx(figures(exact), rel=1e-12)


def test_the_running_totals_stay_exact_when_another_call_ends_between_checks(owner, stranger):
    call(owner, datetime(2026, 3, 3, 10, 0, tzinfo=UTC), seconds=600)  # this month
    call(owner, datetime(2026, 3, 15, 9, 0, tzinfo=UTC), seconds=300)  # today, settled
    call(owner, datetime(2026, 2, 28, 10, 0, tzinfo=UTC), seconds=900)  # last month
    call(stranger, datetime(2026, 3, 15, 9, 0, tzinfo=UTC), seconds=300)  # someone else's
    call(owner, NOW - timedelta(minutes=10))  # the guarded call
    other = call(owner, NOW - timedelta(minutes=5))  # another of the owner's, running
    usage = selectors.RunningUsage()

    first, expected_first = usage.at(owner, NOW), selectors.period_usage(owner, NOW)
    # Between two checks the other call ends (a late usage row with it) and a short one comes
    # and goes: both must count, each once.
    Conversation.objects.filter(pk=other.pk).update(ended_at=NOW + timedelta(seconds=10))
    respond(other, "resp_2", 500)
    call(owner, NOW + timedelta(seconds=12), seconds=8)
    later = NOW + timedelta(seconds=30)
    second = usage.at(owner, later)

    assert same(first, expected_first)
    assert same(second, selectors.period_usage(owner, later))
    day, month = second
    assert day.seconds == pytest.approx(300 + 630 + 310 + 8)
    assert month.seconds == pytest.approx(600 + 300 + 630 + 310 + 8)
    assert month.cost_usd > day.cost_usd > first[0].cost_usd > 0


def test_the_next_day_is_summed_from_its_own_calls(owner):
    call(owner, datetime(2026, 3, 15, 9, 0, tzinfo=UTC), seconds=300)
    call(owner, datetime(2026, 3, 15, 23, 50, tzinfo=UTC))  # running across midnight
    usage = selectors.RunningUsage()
    before = datetime(2026, 3, 15, 23, 55, tzinfo=UTC)
    after = datetime(2026, 3, 16, 0, 5, tzinfo=UTC)

    assert same(usage.at(owner, before), selectors.period_usage(owner, before))
    assert same(usage.at(owner, after), selectors.period_usage(owner, after))
    assert usage.at(owner, after)[0] == Usage()  # the running call counts in the day it started


@contextmanager
def rows_loaded() -> Iterator[list[type]]:
    """The model of every row loaded from the database meanwhile."""
    loaded: list[type] = []

    def count(sender: type, **kwargs: Any) -> None:
        loaded.append(sender)

    post_init.connect(count)
    try:
        yield loaded
    finally:
        post_init.disconnect(count)


def one_check(guarded: Conversation, owner: Any, usage: selectors.RunningUsage) -> tuple[int, int]:
    """(queries, rows) of one guard check after the first."""
    enforcement._nearest_end_of(guarded, owner, NOW, usage)
    with CaptureQueriesContext(connection) as queries, rows_loaded() as rows:
        enforcement._nearest_end_of(guarded, owner, NOW + timedelta(seconds=5), usage)
    return len(queries), len(rows)


def test_a_checks_reads_do_not_grow_with_the_months_conversations(owner, settings):
    settings.LIMITS_MONTHLY_MINUTES = 10_000  # with a budget, or usage is not read at all
    guarded = call(owner, NOW - timedelta(minutes=10))
    for day in range(1, 3):
        call(owner, datetime(2026, 3, day, 10, 0, tzinfo=UTC), seconds=60)
    few = one_check(guarded, owner, selectors.RunningUsage())
    with rows_loaded() as read_by_period_usage_few:
        selectors.period_usage(owner, NOW)
    for day in range(3, 15):
        for hour in range(8, 12):
            call(owner, datetime(2026, 3, day, hour, 0, tzinfo=UTC), seconds=60)

    many = one_check(guarded, owner, selectors.RunningUsage())
    with rows_loaded() as read_by_period_usage_many:
        selectors.period_usage(owner, NOW)

    assert Conversation.objects.owned_by(owner).count() == 1 + 2 + 48
    assert many == few
    # The guarded call and its response (twice: with the running calls, and for its own cost),
    # nothing of the settled calls.
    assert few[1] == 3
    # What every check read before: all of the month's calls, with their responses.
    assert (len(read_by_period_usage_few), len(read_by_period_usage_many)) == (6, 102)
