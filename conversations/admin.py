"""Conversations in the admin: records to read, search, export and (superusers) delete.

Nothing here edits a transcript: turns and usage are what the upstream said, so nobody has the add
or change permission and the admin shows every page in its view-only form. The export actions
reuse the queryset methods the selectors are built on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from conversations import exports, record_tables, selectors
from conversations.changelist import ConversationChangeList, OwnerFilter
from conversations.models import Conversation
from conversations.templatetags.history import format_duration


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
        "turn_total",
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
    # With rows rendered in one pass (`changelist.RowRenderer`) 50 rows cost about 1 ms more CPU
    # than 25 on the bench machine and 100 about 7 ms more: 50 keeps a review's paging short.
    list_per_page = 50
    # Counts for every filter choice would COUNT over the archive on each page.
    show_facets = admin.ShowFacets.NEVER
    # The page's record: tables rendered in one pass each (`record_tables`), not inline forms.
    readonly_fields = ("transcript", "usage")
    actions = ("export_json", "export_text")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The conversation page shows the owner: joined, not fetched apart.
        return super().get_queryset(request).select_related("owner")

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

    # Not `turns`: the changelist would take that name for the reverse relation and sort by a
    # join, listing each conversation once per turn.
    @admin.display(description="turns", ordering="turn_count")
    def turn_total(self, conversation: Conversation) -> int:
        return conversation.turn_count

    @admin.display(description="tokens", ordering="total_tokens")
    def tokens(self, conversation: Conversation) -> int:
        return conversation.total_tokens

    @admin.display(description="transcript")
    def transcript(self, conversation: Conversation) -> SafeString:
        return record_tables.turns_table(selectors.conversation_turns(conversation=conversation))

    @admin.display(description="usage")
    def usage(self, conversation: Conversation) -> SafeString:
        return record_tables.usage_table(conversation.responses.order_by("created_at", "id"))

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
