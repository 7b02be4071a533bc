"""When the sweeper last saw each open call held by a signaling socket (see live/sweeper.py)."""

from __future__ import annotations

from django.db import models

from conversations.models import Conversation


class CallSighting(models.Model):
    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="sighting"
    )
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"conversation {self.conversation_id} held at {self.seen_at:%H:%M:%S}"
