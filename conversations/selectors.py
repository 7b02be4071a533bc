"""The read API for conversations: views and consumers read through these, never raw querysets.

A user only ever sees their own conversations: asking for someone else's raises
`Conversation.DoesNotExist`, exactly as for one that does not exist, so views answer 404 alike.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from conversations.models import Conversation, ConversationQuerySet, Turn


def conversation_list(*, user: Any) -> ConversationQuerySet:
    """The user's conversations, newest first, with only what a list shows."""
    return Conversation.objects.owned_by(user).for_list().newest_first()


def conversation_get(*, user: Any, conversation_id: int) -> Conversation:
    return Conversation.objects.owned_by(user).get(pk=conversation_id)


def conversation_turns(*, conversation: Conversation) -> QuerySet[Turn]:
    """The turns in conversation order (positions follow the item chain)."""
    return conversation.turns.order_by("position", "id")
