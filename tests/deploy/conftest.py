from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture(autouse=True)
def close_connections_after_each_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production setting (DB_CONN_MAX_AGE=0, voiceapp.W104) for requests made in a test.

    Each request through asgi.py runs in a thread of its own; with a kept connection, every one
    would leave a session open on the test database and block dropping it at the end of the run.
    """
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
