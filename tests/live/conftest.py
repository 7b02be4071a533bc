"""Fixtures for the Live tests: the signaling suite's stub upstream and cookies, staff's cookie."""

from __future__ import annotations

import pytest

from tests.signaling.client import session_cookie
from tests.signaling.conftest import owner_cookie, stranger_cookie, stub  # noqa: F401


@pytest.fixture
def staff_cookie(staff_client) -> str:
    return session_cookie(staff_client)
