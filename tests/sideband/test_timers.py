"""The watcher's own timers: maximum duration always, idle only once quiet for long enough."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from sideband.timers import Limits, over_duration, quiet_too_long

LIMITS = Limits(idle_seconds=300, max_call_seconds=3600)
T0 = timezone.make_aware(datetime(2026, 11, 24, 10, 0))


def test_a_call_is_over_its_duration_at_the_maximum_and_not_before() -> None:
    assert not over_duration(now=T0 + timedelta(seconds=3599), started_at=T0, limits=LIMITS)
    assert over_duration(now=T0 + timedelta(seconds=3600), started_at=T0, limits=LIMITS)


def test_a_call_is_quiet_too_long_after_the_idle_timeout_without_events() -> None:
    assert not quiet_too_long(now=T0 + timedelta(seconds=299), last_activity=T0, limits=LIMITS)
    assert quiet_too_long(now=T0 + timedelta(seconds=300), last_activity=T0, limits=LIMITS)
