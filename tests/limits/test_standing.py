"""What admission reads (`selectors.standing`, summed by the database) is exactly
`period_usage` and `active_calls`, over every kind of conversation they tell apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation
from limits import enforcement, selectors
from signaling.messages import ProtocolError
from tests.limits.test_running_usage import NOW, call, respond, same

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def utc(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"  # so that NOW's day and month are the ones written here


def exact(user: Any) -> tuple[tuple[Any, Any], int]:
    return selectors.period_usage(user, NOW), selectors.active_calls(user)


def test_standing_is_period_usage_and_the_running_calls(owner, stranger, settings):
    call(owner, datetime(2026, 3, 3, 10, 0, tzinfo=UTC), seconds=600)  # this month
    twice = call(owner, datetime(2026, 3, 15, 9, 0, tzinfo=UTC), seconds=300)  # today
    respond(twice, "resp_2", 5000)  # two responses: its seconds count once
    call(owner, datetime(2026, 2, 28, 10, 0, tzinfo=UTC), seconds=900)  # last month
    call(owner, datetime(2026, 2, 28, 23, 0, tzinfo=UTC))  # running since last month
    call(owner, NOW - timedelta(minutes=10))  # running, today
    call(stranger, NOW - timedelta(minutes=5))  # someone else's
    unpriced = call(owner, datetime(2026, 3, 14, 8, 0, tzinfo=UTC), seconds=60)
    Conversation.objects.filter(pk=unpriced.pk).update(model="no-price-row")
    chat = call(owner, NOW - timedelta(hours=1))  # a text chat: cost, no minutes, not a call
    Conversation.objects.filter(pk=chat.pk).update(transport="websocket", mode="text")
    Conversation.objects.create(owner=owner, transport="webrtc", mode="direct", started_at=NOW)
    call(owner, NOW + timedelta(seconds=30))  # started by a clock ahead of this one: 0 s so far

    got = selectors.standing(owner, NOW)
    (today, month), running = exact(owner)

    assert same((got.today, got.month), (today, month))
    assert (got.active_calls, running) == (4, 4)
    assert got.month.cost_usd > got.today.cost_usd > 0
    assert got.today.seconds > 0


def test_standing_of_a_user_without_conversations_is_zero(owner):
    got = selectors.standing(owner, NOW)

    assert (got.today.seconds, got.month.cost_usd, got.active_calls) == (0.0, 0.0, 0)


def test_standing_is_two_queries_however_many_conversations(owner):
    for hour in range(8):
        call(owner, datetime(2026, 3, 10, hour, 0, tzinfo=UTC), seconds=60)

    with CaptureQueriesContext(connection) as queries:
        selectors.standing(owner, NOW)

    assert len(queries) == 2


def test_without_a_budget_admission_reads_no_usage(owner, settings, django_assert_num_queries):
    for budget in ("DAILY_MINUTES", "MONTHLY_MINUTES", "DAILY_COST_CENTS", "MONTHLY_COST_CENTS"):
        setattr(settings, f"LIMITS_{budget}", 0)
    settings.LIMITS_MAX_CONCURRENT_CALLS = 1
    call(owner, NOW - timedelta(hours=1), seconds=600)  # ended: neither summed nor counted
    enforcement.check(owner, "brokered")

    Conversation.objects.create(owner=owner, transport="webrtc", mode="brokered")  # running
    # The user's policy and running calls in one query, after the owner's row lock where the
    # database has one (the test runs in a transaction): the month's usage is not read.
    locking = connection.features.has_select_for_update
    with django_assert_num_queries(2 if locking else 1), pytest.raises(ProtocolError) as refused:
        enforcement.check(owner, "brokered")

    assert refused.value.code == "too_many_calls"


def test_with_a_budget_admission_sums_the_usage(owner, settings):
    settings.LIMITS_DAILY_MINUTES = 10
    call(owner, datetime.now(UTC) - timedelta(seconds=1), seconds=600)  # ten minutes today

    with pytest.raises(ProtocolError) as refused:
        enforcement.check(owner, "text")

    assert refused.value.code == "budget_exceeded"
