"""When a call's guard looks at its limits next: every LIMITS_CHECK_SECONDS while a budget (which
the user's other calls spend too) may run out; otherwise not before the call's own clock nears a
warning point, and at least once a minute so that a changed policy applies."""

from __future__ import annotations

import dataclasses

import pytest

from limits import enforcement
from limits.rules import Limits

DEFAULTS = Limits(
    max_call_seconds=3600,
    idle_timeout_seconds=300,
    max_concurrent_calls=2,
    daily_minutes=0,
    monthly_minutes=0,
    daily_cost_cents=0,
    monthly_cost_cents=0,
)


@pytest.fixture(autouse=True)
def timing(settings) -> None:
    settings.LIMITS_CHECK_SECONDS = 5
    settings.LIMITS_WARNING_SECONDS = 60
    settings.REALTIME_MAX_SESSION_SECONDS = 3600


def test_a_call_without_a_budget_is_first_checked_a_minute_in():
    # Its earliest warning point (idle 300 s - 60 s) is further away than the longest sleep.
    assert enforcement._first_delay(DEFAULTS) == enforcement.UNBUDGETED_CHECK_SECONDS


def test_a_call_whose_limit_is_within_the_warning_is_checked_at_once():
    short = dataclasses.replace(DEFAULTS, max_call_seconds=8)

    assert enforcement._first_delay(short) == 1.0


def test_a_call_with_a_budget_or_unknown_limits_is_checked_soon():
    budgeted = dataclasses.replace(DEFAULTS, monthly_minutes=600)

    assert enforcement._first_delay(budgeted) == 1.0
    assert enforcement._first_delay(None) == 1.0  # a resumed call: no admission read them


def test_without_a_budget_the_guard_sleeps_until_the_warning_point():
    assert enforcement._delay(240.0, budgeted=False) == 60.0  # at most a minute
    assert enforcement._delay(90.0, budgeted=False) == 30.0  # the warning point, 60 s before
    assert enforcement._delay(30.0, budgeted=False) == 30.0  # warned: until the end


def test_with_a_budget_the_guard_checks_every_few_seconds():
    assert enforcement._delay(240.0, budgeted=True) == 5.0
