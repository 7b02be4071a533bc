"""One JSON object per log line, so a log collector can index request and conversation ids.

Ids are bound in context variables rather than passed around: ``bind_log_context`` sets them for
the current task (a request, a consumer handler) and ``LogContextFilter`` copies them onto every
record, so any logger anywhere in that task carries them without knowing about them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else was passed with `extra=` and is worth keeping.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
conversation_id_var: ContextVar[str | None] = ContextVar("conversation_id", default=None)
_CONTEXT_VARS = {"request_id": request_id_var, "conversation_id": conversation_id_var}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class LogContextFilter(logging.Filter):
    """Copies the bound ids onto each record; an id passed explicitly with ``extra=`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT_VARS.items():
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


@contextmanager
def bind_log_context(
    *, request_id: str | None = None, conversation_id: str | int | None = None
) -> Iterator[None]:
    """Within the block, log records of this task carry the given ids; unset ids are untouched.

    A consumer wraps a handler: ``with bind_log_context(conversation_id=conversation.pk): ...``.
    """
    values = {"request_id": request_id, "conversation_id": conversation_id}
    tokens = [
        (_CONTEXT_VARS[name], _CONTEXT_VARS[name].set(str(value)))
        for name, value in values.items()
        if value is not None
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
