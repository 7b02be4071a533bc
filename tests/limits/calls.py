"""Finished calls of today, made directly in the database, for budget and usage tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from conversations.models import Conversation, ResponseUsage
from limits import selectors


def call_today(owner: Any, *, seconds: float, audio_tokens: int = 0) -> Conversation:
    """A finished brokered call that started at midnight (so it is today's whatever the hour),
    with one response whose usage is `audio_tokens` of audio input."""
    start = selectors.period_starts(timezone.now())[0]
    conversation = Conversation.objects.create(
        owner=owner,
        transport="webrtc",
        mode="brokered",
        model="gpt-realtime-2.1",
        status="ended",
        started_at=start,
        ended_at=start + timedelta(seconds=seconds),
    )
    usage = {"input_tokens": audio_tokens, "input_token_details": {"audio_tokens": audio_tokens}}
    ResponseUsage.objects.create(conversation=conversation, response_id="resp_old", usage=usage)
    return conversation


earlier_call = database_sync_to_async(call_today)
