"""The admin's list of conversations: counted with its page, drilled down by probing, filtered
by one owner, its rows rendered in one pass.

Over an archive of 100,000 conversations the SQL of a page takes a few milliseconds; what is
left to keep small is the number of queries (at most six with the session and the user) and
Django's rendering, which goes through a dozen generic steps for each of the 550 cells.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from conversations.models import Conversation
from conversations.paginators import CountedPaginator, counted_page
from conversations.templatetags.history import format_duration


class OwnerFilter(admin.SimpleListFilter):
    """One owner's conversations, reached from the owner column's links. Only the chosen owner
    is offered: a list of every user would grow with the user base, on every changelist. The
    owner's name is read from the rows listed (every one is theirs, with its owner joined);
    only an empty list asks the user table for it."""

    title = "owner"
    parameter_name = "owner__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        chosen = self.value() or ""
        return [(chosen, chosen)] if chosen.isdigit() else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        return queryset.filter(owner_id=self.value()) if self.value().isdigit() else queryset.none()

    def choices(self, changelist: ChangeList) -> Any:
        for choice in super().choices(changelist):
            if choice["selected"] and self.lookup_choices:
                choice["display"] = self._owner_name(changelist)
            yield choice

    def _owner_name(self, changelist: ChangeList) -> str:
        if changelist.result_list:
            return str(changelist.result_list[0].owner)
        owner = get_user_model().objects.filter(pk=self.value()).first()
        return str(owner) if owner else f"#{self.value()}"


class DrillDownDates:
    """`cl.queryset` as the date hierarchy sees it. The years (or, in a year, the months) to
    offer are probed with `periods_with_rows` instead of truncating every row's date; the years
    lie between the bounds the hierarchy has just asked for, which are kept for that. Days, in
    one month, are left to Django. Everything else goes to the queryset itself."""

    def __init__(self, queryset: QuerySet, year: str | None) -> None:
        self._queryset = queryset
        self._year = int(year) if year and year.isdigit() else None
        self._bounds: list[datetime] = []
        self._bounded = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queryset, name)

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result = self._queryset.aggregate(*args, **kwargs)
        self._bounds = sorted(timezone.localtime(v) for v in result.values() if v is not None)
        self._bounded = True
        return result

    def datetimes(self, field_name: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        periods = self._periods(kind)
        if periods is None:
            return self._queryset.datetimes(field_name, kind, *args, **kwargs)
        return self._queryset.periods_with_rows(field_name, periods)

    def _periods(self, kind: str) -> list[tuple[datetime, datetime]] | None:
        zone = timezone.get_current_timezone()
        # Without a year chosen, the hierarchy asks for months only if all rows share a year.
        year = self._year or (self._bounds[0].year if self._bounds else None)
        if kind == "year" and self._bounded:
            if not self._bounds:  # the bounds found no rows: no year to offer, nothing to ask
                return []
            years = range(self._bounds[0].year, self._bounds[-1].year + 2)
            starts = [datetime(y, 1, 1, tzinfo=zone) for y in years]
        elif kind == "month" and year:
            starts = [datetime(year + m // 12, m % 12 + 1, 1, tzinfo=zone) for m in range(13)]
        else:
            return None
        return list(pairwise(starts))


class ConversationChangeList(ChangeList):
    """The page and its count from `counted_page`; date drill-down through `DrillDownDates`, and
    none under a search: listing the dates of every match would read them all (a common word
    matches most of the archive) where the page needs 50. The sidebar's `started_at` filter
    still narrows a search by date."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        if self.query:
            self.date_hierarchy = None
        elif self.date_hierarchy:
            year = self.params.get(f"{self.date_hierarchy}__year")
            self.queryset = DrillDownDates(self.queryset, year)

    def get_results(self, request: HttpRequest) -> None:
        if request.method == "POST" and "action" in request.POST:
            # An action's answer is the action's response or a redirect, never this list: it is
            # neither read nor counted (an export reads only the selected conversations).
            self._set_results([], 0)
            return
        if self.page_num < 1:
            raise IncorrectLookupParameters
        rows, count = self._page(self.list_max_show_all if self.show_all else self.list_per_page)
        if self.show_all and count > self.list_max_show_all:  # "Show all" is not offered then
            rows, count = self._page(self.list_per_page)
        if not rows and self.page_num > 1:
            raise IncorrectLookupParameters
        self._set_results(rows, count)

    def _set_results(self, rows: list[Any], count: int) -> None:
        self.result_count, self.result_list = count, rows
        # No full count either: over the archive it is the COUNT(*) this list avoids.
        self.full_result_count, self.show_full_result_count = None, False
        self.show_admin_actions = True
        self.can_show_all = count <= self.list_max_show_all
        self.multi_page = count > self.list_per_page
        self.paginator = CountedPaginator(self.queryset, self.list_per_page, count=count)

    def _page(self, size: int) -> tuple[list[Any], int]:
        offset = 0 if size != self.list_per_page else (self.page_num - 1) * size
        return counted_page(self.queryset, offset=offset, limit=size)


# --- Rows ------------------------------------------------------------------------------------

Cell = Callable[[Conversation], str]


class RowRenderer:
    """The changelist's rows as Django's admin would render them (same cells, classes, links and
    action checkboxes, so its CSS and actions.js work unchanged), one format per cell instead of
    Django's generic lookup, display and escaping steps for each. What is shared by every row
    (the change URL's form, the boolean icons, the choice labels) is worked out once a page."""

    def __init__(self, cl: ChangeList) -> None:
        # The admin's change URLs are `<changelist>/<pk>/change/`: one reverse() a page, not a row.
        changelist_url = reverse(
            admin_urlname(cl.opts, "changelist"), current_app=cl.model_admin.admin_site.name
        )
        self._change_url = changelist_url + "{}/change/"
        self._preserved = f"?{escape(cl.preserved_filters)}" if cl.preserved_filters else ""
        self._icons = {
            value: f'<img src="{static(f"admin/img/icon-{name}.svg")}" alt="{value}">'
            for value, name in ((True, "yes"), (False, "no"))
        }
        self._select = escape(gettext("Select this object for an action - {}"))
        self._labels = {
            name: {value: escape(label) for value, label in choices}
            for name, choices in (
                ("status", Conversation.Status.choices),
                ("transport", Conversation.Transport.choices),
                ("mode", Conversation.Mode.choices),
            )
        }
        self._columns = [(name, *self._cell(name)) for name in cl.list_display]
        # The first column after the checkbox links to the conversation, as Django's does.
        self._link_index = 1 if list(cl.list_display[:1]) == ["action_checkbox"] else 0

    def row(self, conversation: Conversation) -> SafeString:
        cells = []
        for index, (_, css, render) in enumerate(self._columns):
            tag = "th" if index == self._link_index else "td"
            cells.append(f'<{tag} class="{css}">{render(conversation)}</{tag}>')
        return mark_safe("".join(cells))

    def _cell(self, name: str) -> tuple[str, Cell]:
        cells: dict[str, tuple[str, Cell]] = {
            "action_checkbox": ("action-checkbox", self._checkbox),
            "id": ("field-id", self._link),
            "owner_link": ("field-owner_link", self._owner),
            "started_at": ("field-started_at nowrap", self._started),
            "duration_display": ("field-duration_display", self._duration),
            "status": ("field-status", lambda c: self._labels["status"][c.status]),
            "turn_total": ("field-turn_total", lambda c: str(c.turn_count)),
            "tokens": ("field-tokens", lambda c: str(c.total_tokens)),
            "transport": ("field-transport", lambda c: self._labels["transport"][c.transport]),
            "mode": ("field-mode", lambda c: self._labels["mode"][c.mode]),
            "flagged": ("field-flagged", self._flag),
        }
        try:
            return cells[name]
        except KeyError:
            raise ValueError(f"no cell renderer for list_display column {name!r}") from None

    def _checkbox(self, c: Conversation) -> str:
        label = self._select.replace("{}", escape(str(c)))
        return (
            f'<input type="checkbox" name="_selected_action" value="{c.pk}" '
            f'class="action-select" aria-label="{label}">'
        )

    def _link(self, c: Conversation) -> str:
        return f'<a href="{self._change_url.format(c.pk)}{self._preserved}">{c.pk}</a>'

    def _owner(self, c: Conversation) -> str:
        return f'<a href="?{OwnerFilter.parameter_name}={c.owner_id}">{escape(c.owner)}</a>'

    def _started(self, c: Conversation) -> str:
        return f"{timezone.localtime(c.started_at):%Y-%m-%d %H:%M}"

    def _duration(self, c: Conversation) -> str:
        return format_duration(c.duration)

    def _flag(self, c: Conversation) -> str:
        if not c.flagged:
            return self._icons[False]
        return f'<span title="{escape(c.flag_reason)}">{self._icons[True]}</span>'


def result_rows(cl: ChangeList) -> list[SafeString]:
    renderer = RowRenderer(cl)
    return [renderer.row(conversation) for conversation in cl.result_list]
