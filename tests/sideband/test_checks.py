"""The watcher's settings are checked at start-up."""

from __future__ import annotations

from sideband.checks import check_lease_outlasts_heartbeats


def test_a_lease_shorter_than_two_heartbeats_is_an_error(settings) -> None:
    settings.SIDEBAND_LEASE_SECONDS, settings.SIDEBAND_POLL_SECONDS = 3, 2
    assert [e.id for e in check_lease_outlasts_heartbeats()] == ["sideband.E001"]


def test_the_default_lease_and_poll_interval_pass(settings) -> None:
    settings.SIDEBAND_LEASE_SECONDS, settings.SIDEBAND_POLL_SECONDS = 30, 1
    assert check_lease_outlasts_heartbeats() == []
