"""One conversation's record as the admin's conversation page shows it: two read-only tables.

Django would render turns and usage rows as inline formsets, building a form and a read-only
field wrapper for each of their cells (≈ 20 ms of a 30 ms page for ten turns, growing with the
call's length); nothing here is ever edited, so each table is one pass of escaped cells.
A disputed turn shows both texts: the upstream's own words and, beneath, the browser's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from conversations.models import ResponseUsage, Turn

TURN_HEADERS = ("#", "role", "text", "status", "source", "item", "completed")
USAGE_HEADERS = ("response", "status", "usage", "created")


def _when(value: datetime | None) -> str:
    return "—" if value is None else f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"


def _table(headers: Iterable[str], rows: list[str], empty: str) -> SafeString:
    if not rows:
        return mark_safe(f"<p>{escape(empty)}</p>")
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join(rows)
    return mark_safe(
        f'<table class="record"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _lines(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def _turn_text(turn: Turn) -> str:
    text = _lines(turn.text)
    if not turn.browser_text:
        return text
    browser = _lines(turn.browser_text)
    return f'{text}<div class="browser-text"><strong>Browser relayed:</strong> {browser}</div>'


def turns_table(turns: Iterable[Turn]) -> SafeString:
    """The transcript in conversation order, one row a turn."""
    rows = [
        f'<tr class="turn-{escape(t.status)}"><td>{t.position}</td>'
        f"<td>{escape(t.get_role_display())}</td><td>{_turn_text(t)}</td>"
        f"<td>{escape(t.get_status_display())}</td><td>{escape(t.get_source_display())}</td>"
        f"<td><code>{escape(t.item_id)}</code></td><td>{_when(t.completed_at)}</td></tr>"
        for t in turns
    ]
    return _table(TURN_HEADERS, rows, "No turns recorded.")


def usage_table(responses: Iterable[ResponseUsage]) -> SafeString:
    """Each response's usage exactly as received."""
    rows = [
        f"<tr><td><code>{escape(r.response_id)}</code></td><td>{escape(r.status)}</td>"
        f"<td><code>{escape(json.dumps(r.usage, sort_keys=True))}</code></td>"
        f"<td>{_when(r.created_at)}</td></tr>"
        for r in responses
    ]
    return _table(USAGE_HEADERS, rows, "No usage recorded.")
