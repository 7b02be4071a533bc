"""The stdout handler settings.LOGGING installs writes one JSON object per line, ids included."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings

from voiceapp.logging import JsonFormatter, bind_log_context


@pytest.fixture
def stdout_handler() -> Iterator[logging.StreamHandler[io.StringIO]]:
    """The handler Django configured from settings.LOGGING, writing to a buffer for the test."""
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert isinstance(handler, logging.StreamHandler)
    original = handler.setStream(io.StringIO())
    yield handler
    handler.setStream(original)


def test_a_management_process_logs_json_lines_on_stdout_and_nothing_on_stderr() -> None:
    # A process of its own: pytest's capture has replaced sys.stdout in this one.
    code = "import logging; logging.getLogger('voiceapp.probe').warning('hello %s', 'ops')"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", code],
        cwd=settings.BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    [line] = result.stdout.splitlines()
    entry = json.loads(line)
    assert entry.pop("time").endswith("+00:00")
    assert entry == {
        "level": "WARNING",
        "logger": "voiceapp.probe",
        "message": "hello ops",
    }


def test_a_log_line_is_one_json_object_with_ids_and_extras(
    stdout_handler: logging.StreamHandler[io.StringIO],
) -> None:
    logger = logging.getLogger("signaling.consumers")

    with bind_log_context(request_id="req-00000001", conversation_id=9):
        logger.warning("turn %s stored", 3, extra={"turn": 3})

    [line] = stdout_handler.stream.getvalue().splitlines()
    entry = json.loads(line)
    assert set(entry) == {
        "time",
        "level",
        "logger",
        "message",
        "turn",
        "request_id",
        "conversation_id",
    }
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "signaling.consumers"
    assert entry["message"] == "turn 3 stored"
    assert (entry["turn"], entry["request_id"], entry["conversation_id"]) == (
        3,
        "req-00000001",
        "9",
    )
    assert entry["time"].endswith("+00:00")


def test_a_traceback_stays_inside_its_one_line(
    stdout_handler: logging.StreamHandler[io.StringIO],
) -> None:
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        logging.getLogger("voiceapp").exception("it broke")

    [line] = stdout_handler.stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "it broke"
    assert "ValueError: first line\nsecond line" in entry["exception"]
