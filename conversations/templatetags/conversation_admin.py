"""The admin changelist's table of conversations, its rows from `changelist.result_rows`."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers
from django.contrib.admin.views.main import ChangeList

from conversations.changelist import result_rows

register = template.Library()


@register.inclusion_tag("admin/change_list_results.html")
def conversation_result_list(cl: ChangeList) -> dict[str, Any]:
    """What Django's `result_list` tag gives its template, with each row already rendered (one
    cell string a row: the template's loop then runs 50 times, not 550)."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": [[row] for row in result_rows(cl)],
    }
