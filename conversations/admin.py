"""Conversations in the admin: records to read, search, export and (superusers) delete.

Nothing here edits a transcript: turns and usage are what the upstream said, so nobody has the add
or change permission and the admin shows every page in its view-only form. The export actions
reuse the queryset methods the selectors are built on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

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


def _download(body: Any, *, content_type: str, extension: str) -> StreamingHttpResponse:
    name = f"conversations-{timezone.now():%Y%m%d-%H%M%S}.{extension}"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "started_at",
        "duration_display",
        "status",
        "turns",
        "tokens",
        "transport",
        "mode",
        "flagged",
    )
    list_filter = ("status", "transport", "mode", "started_at", "owner")
    date_hierarchy = "started_at"
    search_fields = ("owner__username", "owner__email", "turns__text")
    list_select_related = ("owner",)
    # A COUNT over every conversation on each search would grow with the archive.
    show_full_result_count = False
    list_per_page = 50
    inlines = (TurnInline, ResponseUsageInline)
    actions = ("export_json", "export_text")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

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
