"""The lease that gives each brokered call exactly one watcher, whatever the number of processes."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q

from conversations.models import Conversation


class CallLeaseQuerySet(models.QuerySet["CallLease"]):
    def unfinished(self) -> CallLeaseQuerySet:
        return self.filter(finished_at=None)

    def claimable(self, now: datetime) -> CallLeaseQuerySet:
        """Free, or held by a watcher whose heartbeat stopped (its lease expired)."""
        return self.unfinished().filter(Q(holder="") | Q(expires_at__lt=now))

    def held_by(self, holder: str) -> CallLeaseQuerySet:
        return self.unfinished().filter(holder=holder)


def watchable_conversations() -> models.QuerySet[Conversation]:
    """Brokered calls the upstream has answered and nobody has ended: these need a watcher."""
    return Conversation.objects.filter(
        mode=Conversation.Mode.BROKERED,
        status__in=[Conversation.Status.CONNECTING, Conversation.Status.ACTIVE],
        ended_at=None,
    ).exclude(upstream_call_id="")


class CallLease(models.Model):
    """Who watches a call. `holder` is a watcher's id ("" when free) and `expires_at` its
    heartbeat's expiry; a finished lease (the call is over) is never claimed again."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="sideband_lease"
    )
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveIntegerField(default=0)
    # False once the sideband may have missed events of the call: it attached after turns were
    # already stored, or re-attached after a gap (the upstream replays nothing on attach).
    unbroken = models.BooleanField(default=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    finish_reason = models.CharField(max_length=100, blank=True)

    objects = CallLeaseQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["holder", "expires_at"], name="lease_holder_expiry")]

    def __str__(self) -> str:
        return f"Lease of conversation {self.conversation_id} ({self.holder or 'free'})"
