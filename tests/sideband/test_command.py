"""`manage.py watch_calls` honours SIDEBAND_WATCHER_ENABLED."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command


def test_the_command_watches_nothing_when_the_watcher_is_disabled(settings) -> None:
    settings.SIDEBAND_WATCHER_ENABLED = False
    out, err = StringIO(), StringIO()

    call_command("watch_calls", stdout=out, stderr=err)

    assert err.getvalue() == "SIDEBAND_WATCHER_ENABLED is off: not watching any call.\n"
    assert out.getvalue() == ""
