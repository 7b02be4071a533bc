"""Template filters for conversation history pages (and the admin, which shows the same)."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def format_duration(value: timedelta | None) -> str:
    """ "1 h 02 min", "4 min 05 s", "12 s"; "—" while a conversation has not ended."""
    if value is None:
        return "—"
    seconds = max(int(value.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
