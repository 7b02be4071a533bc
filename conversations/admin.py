"""Conversations in the admin: records to read, search, export and (superusers) delete.

Nothing here edits a transcript: turns and usage are what the upstream said, so nobody has the add
or change permission and the admin shows every page in its view-only form. The export actions
reuse the queryset methods the selectors are built on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from conversations import exports
from conversations.models import Conversation, ResponseUsage, Turn
from conversations.templatetags.history import format_duration


class RecordInline(admin.TabularInline):
    """A read-only part of the record, visible to whoever may view the conversation."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("conversations.view_conversation")


class TurnInline(RecordInline):
    model = Turn
    # `browser_text`: what the browser relayed when it differs from the upstream's own words.
    fields = (
        "position",
        "role",
        "text",
        "browser_text",
        "status",
        "item_id",
        "source",
        "completed_at",
    )
    ordering = ("position", "id")


class ResponseUsageInline(RecordInline):
    model = ResponseUsage
    fields = ("response_id", "status", "usage", "created_at")
    verbose_name = "response usage"


class EstimatedCountPaginator(Paginator):
    """Numbers the pages from `ConversationQuerySet.estimated_count`: on PostgreSQL no
    changelist, filtered or not, reads the whole archive to count it."""

    @cached_property
    def count(self) -> int:
        return self.object_list.estimated_count()


class OwnerFilter(admin.SimpleListFilter):
    """One owner's conversations, reached from the owner column's links. Only the chosen owner
    is offered: a list of every user would grow with the user base, on every changelist."""

    title = "owner"
    parameter_name = "owner__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        chosen = self.value() or ""
        owner = get_user_model().objects.filter(pk=chosen).first() if chosen.isdigit() else None
        return [(chosen, str(owner))] if owner else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        return queryset.filter(owner_id=self.value()) if self.value().isdigit() else queryset.none()


class DrillDownDates:
    """`cl.queryset` as the date hierarchy sees it. The years (or, in a year, the months) to
    offer are probed with `periods_with_rows` instead of truncating every row's date; the years
    lie between the bounds the hierarchy has just asked for, which are kept for that. Days, in
    one month, are left to Django. Everything else goes to the queryset itself."""

    def __init__(self, queryset: QuerySet, year: str | None) -> None:
        self._queryset = queryset
        self._year = int(year) if year and year.isdigit() else None
        self._bounds: list[datetime] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queryset, name)

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result = self._queryset.aggregate(*args, **kwargs)
        self._bounds = sorted(timezone.localtime(v) for v in result.values() if v is not None)
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
        if kind == "year" and self._bounds:
            years = range(self._bounds[0].year, self._bounds[-1].year + 2)
            starts = [datetime(y, 1, 1, tzinfo=zone) for y in years]
        elif kind == "month" and year:
            starts = [datetime(year + m // 12, m % 12 + 1, 1, tzinfo=zone) for m in range(13)]
        else:
            return None
        return list(pairwise(starts))


class ConversationChangeList(ChangeList):
    """Date drill-down through `DrillDownDates`, and none under a search: listing the dates of
    every match would read them all (a common word matches most of the archive) where the page
    needs 50. The sidebar's `started_at` filter still narrows a search by date."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        if self.query:
            self.date_hierarchy = None
        elif self.date_hierarchy:
            year = self.params.get(f"{self.date_hierarchy}__year")
            self.queryset = DrillDownDates(self.queryset, year)


def _search_words(search_term: str) -> list[str]:
    """The words of a search, "quoted phrases" kept whole, as Django's own search splits them."""
    return [
        unescape_string_literal(bit) if bit.startswith(('"', "'")) and bit[0] == bit[-1] else bit
        for bit in smart_split(search_term)
    ]


def _download(body: Any, *, content_type: str, extension: str) -> StreamingHttpResponse:
    name = f"conversations-{timezone.now():%Y%m%d-%H%M%S}.{extension}"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner_link",
        "started_at",
        "duration_display",
        "status",
        "turns",
        "tokens",
        "transport",
        "mode",
        "flagged",
    )
    list_filter = ("status", "transport", "mode", "started_at", OwnerFilter)
    date_hierarchy = "started_at"
    search_fields = ("owner__username", "owner__email", "turns__text")
    list_select_related = ("owner",)
    # A COUNT over every conversation on each search would grow with the archive.
    show_full_result_count = False
    list_per_page = 50
    paginator = EstimatedCountPaginator
    inlines = (TurnInline, ResponseUsageInline)
    actions = ("export_json", "export_text")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ConversationChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Every word must match the owner or some turn (`ConversationQuerySet.matching`): the
        search fields above, without the join that would list a conversation once per turn and
        make the changelist DISTINCT over every row."""
        for word in _search_words(search_term):
            queryset = queryset.matching(word)
        return queryset, False

    @admin.display(description="owner", ordering="owner")
    def owner_link(self, conversation: Conversation) -> str:
        query = urlencode({OwnerFilter.parameter_name: conversation.owner_id})
        return format_html('<a href="?{}">{}</a>', query, conversation.owner)

    @admin.display(description="duration")
    def duration_display(self, conversation: Conversation) -> str:
        duration: timedelta | None = conversation.duration
        return format_duration(duration)

    @admin.display(description="turns", ordering="turn_count")
    def turns(self, conversation: Conversation) -> int:
        return conversation.turn_count

    @admin.display(description="tokens", ordering="total_tokens")
    def tokens(self, conversation: Conversation) -> int:
        return conversation.total_tokens

    @admin.action(description="Export selected conversations as JSON", permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        selected = queryset.with_record().newest_first().iterator(chunk_size=100)
        return _download(
            exports.iter_json(selected), content_type="application/json", extension="json"
        )

    @admin.action(description="Export selected transcripts as text", permissions=["view"])
    def export_text(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        selected = queryset.with_record().newest_first().iterator(chunk_size=100)
        return _download(
            exports.iter_text(selected), content_type="text/plain; charset=utf-8", extension="txt"
        )
