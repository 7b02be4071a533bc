"""System checks for the watcher's settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_lease_outlasts_heartbeats(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    # One late heartbeat must not hand a live watcher's calls to another watcher.
    if settings.SIDEBAND_LEASE_SECONDS >= 2 * settings.SIDEBAND_POLL_SECONDS:
        return []
    return [
        Error(
            f"SIDEBAND_LEASE_SECONDS={settings.SIDEBAND_LEASE_SECONDS} is less than twice "
            f"SIDEBAND_POLL_SECONDS={settings.SIDEBAND_POLL_SECONDS}.",
            hint="Raise SIDEBAND_LEASE_SECONDS (30 by default) or lower SIDEBAND_POLL_SECONDS.",
            id="sideband.E001",
        )
    ]
