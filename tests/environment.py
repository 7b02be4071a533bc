"""What the suite needs from the machine, and how a missing piece is reported.

Outside CI a missing service or browser skips the tests that need it, with the reason. In CI
(`CI=true`) the same absence is an error: a run that silently skipped them would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def require(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (in CI) unless `condition` holds."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}", pytrace=False)
    pytest.skip(reason)


def require_row_locks() -> None:
    """For tests of row locks: they need PostgreSQL (CI's database)."""
    from django.db import connection

    reason = "row locks need PostgreSQL; SQLite is the single-writer development database"
    require(connection.vendor == "postgresql", reason)


def require_chromium() -> str:
    require(os.path.exists(CHROMIUM), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


def free_port() -> int:
    """A loopback port nothing listens on now (picked at run time: others may hold the usual
    ones). Used both to start servers on and as a dead address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
