"""The record of every call: a conversation, its ordered turns, and each response's raw usage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

# The fields a list of conversations shows (history page, admin changelist); the long text
# fields stay in the database until one conversation is opened.
LIST_DEFERRED = ("instructions", "error")


class ConversationQuerySet(models.QuerySet["Conversation"]):
    """Small building blocks for the selectors and the admin."""

    def owned_by(self, user: object) -> ConversationQuerySet:
        return self.filter(owner=user)

    def newest_first(self) -> ConversationQuerySet:
        return self.order_by("-started_at", "-id")

    def for_list(self) -> ConversationQuerySet:
        return self.select_related("owner").defer(*LIST_DEFERRED)

    def with_record(self) -> ConversationQuerySet:
        """Each conversation with its turns (in chain order) and usage rows, in two queries.
        Ordered within each conversation only: the models' default orderings start with
        `conversation`, which would join every turn back to its conversation to sort them."""
        return self.select_related("owner").prefetch_related(
            models.Prefetch("turns", queryset=Turn.objects.order_by("position", "id")),
            models.Prefetch(
                "responses", queryset=ResponseUsage.objects.order_by("created_at", "id")
            ),
        )

    def matching(self, word: str) -> ConversationQuerySet:
        """Those whose owner's username or e-mail, or any turn's text, contains `word` (in any
        case). The turns are matched in an id subquery rather than a join, so each conversation
        comes once without DISTINCT, and on PostgreSQL from the trigram index `turn_text_trgm`
        (migration 0003). The owners are looked up first, in their small table: ORing them into
        the same SQL would stop PostgreSQL from running the turn subquery as a semi-join, the
        plan that stays fast for rare and common words alike."""
        owners = get_user_model().objects.filter(
            models.Q(username__icontains=word) | models.Q(email__icontains=word)
        )
        owner_ids = list(owners.values_list("pk", flat=True))
        turns = models.Q(pk__in=Turn.objects.filter(text__icontains=word).values("conversation_id"))
        return self.filter(turns | models.Q(owner__in=owner_ids) if owner_ids else turns)

    def periods_with_rows(
        self, field_name: str, periods: Sequence[tuple[datetime, datetime]]
    ) -> list[datetime]:
        """The starts of those `(start, end)` periods in which `field_name` has a value, asked in
        one query with one probe per period (the period's first value: one step down an index on
        the field), where Django's `datetimes()` truncates the date of every row to find them."""
        probes = {
            f"p{index}": models.Subquery(
                self.filter(**{f"{field_name}__gte": start, f"{field_name}__lt": end})
                .order_by(field_name)
                .values(field_name)[:1]
            )
            for index, (start, end) in enumerate(periods)
        }
        if not probes:
            return []
        found = self.model._default_manager.order_by().annotate(**probes).values(*probes)[:1]
        row = next(iter(found), {})
        return [start for index, (start, _) in enumerate(periods) if row.get(f"p{index}")]


class Conversation(models.Model):
    class Status(models.TextChoices):
        CONNECTING = "connecting", "Connecting"
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    class Transport(models.TextChoices):
        WEBRTC = "webrtc", "WebRTC (voice)"
        WEBSOCKET = "websocket", "WebSocket (text)"

    class Mode(models.TextChoices):
        BROKERED = "brokered", "Brokered by the server"
        DIRECT = "direct", "Direct with an ephemeral key"
        TEXT = "text", "Server-side text session"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONNECTING)
    transport = models.CharField(max_length=16, choices=Transport.choices)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    model = models.CharField(max_length=100)
    voice = models.CharField(max_length=50, blank=True)
    instructions = models.TextField(blank=True)
    upstream_session_id = models.CharField(max_length=100, blank=True)
    upstream_call_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # Totals derived from the ResponseUsage rows (kept here so lists need no aggregation).
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    turn_count = models.PositiveIntegerField(default=0)
    # The opening words of the transcript, kept by record_events so lists need no turn query.
    first_words = models.CharField(max_length=200, blank=True)
    # Set when the browser's relayed record disagrees with the upstream's own (sideband) record.
    flagged = models.BooleanField(default=False)
    flag_reason = models.CharField(max_length=200, blank=True)
    # Bumped by every write to the turns, the usage rows or the totals (record_events,
    # flag_unconfirmed_turns): a transcript kept in memory between batches is current only while
    # this is the revision it was read or written at (`services.Recording`).
    record_revision = models.PositiveBigIntegerField(default=0)
    # The earlier conversation this one continues (its turns were given to the upstream first).
    continued_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="continuations"
    )

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # With id, any history page is found in this index alone (`conversation_page`).
            models.Index(fields=["owner", "-started_at", "-id"], name="conv_owner_started_id"),
            models.Index(fields=["status", "-started_at"], name="conv_status_started"),
            models.Index(fields=["-started_at"], name="conv_started"),
            # The conversations still running, which every admission counts for its user (and
            # the Live page and the sweeper list): a few rows however long the history grows.
            # With `transport`, SQLite's planner (no statistics) prefers it to the one above.
            models.Index(
                fields=["owner", "transport"],
                condition=models.Q(ended_at=None),
                name="conv_running_owner",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["upstream_call_id"],
                condition=~models.Q(upstream_call_id=""),
                name="conv_unique_call_id",
            ),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.owner_id}, {self.started_at:%Y-%m-%d %H:%M})"

    @property
    def duration(self) -> timedelta | None:
        if self.ended_at is None:
            return None
        return self.ended_at - self.started_at


class Turn(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        BROWSER = "browser", "Relayed by the browser"
        SIDEBAND = "sideband", "Server sideband"
        SERVER = "server", "Server text session"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    item_id = models.CharField(max_length=100)
    previous_item_id = models.CharField(max_length=100, blank=True)
    # Position in the item chain, recomputed when an item arrives out of order.
    position = models.PositiveIntegerField(default=0)
    role = models.CharField(max_length=16, choices=Role.choices)
    # The response that produced an assistant turn: links it to its ResponseUsage row.
    response_id = models.CharField(max_length=100, blank=True)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BROWSER)
    # What the browser relayed for this item when it differs from the sideband's `text`.
    browser_text = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["conversation", "position"]
        indexes = [models.Index(fields=["conversation", "position"], name="turn_conv_position")]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "item_id"], name="turn_unique_item"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class ResponseUsage(models.Model):
    """One `response.done` usage object, kept exactly as received so costs can be recomputed."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="responses"
    )
    response_id = models.CharField(max_length=100)
    status = models.CharField(max_length=32, blank=True)
    usage = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "response_id"], name="usage_unique_response"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.response_id} ({self.status})"
