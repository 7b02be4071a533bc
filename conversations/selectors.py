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


def conversation_page(*, user: Any, offset: int, limit: int) -> list[Conversation]:
    """`limit` of the user's conversations from `offset` on, newest first. The page's ids are
    chosen in a subquery that reads only the `(owner, -started_at, -id)` index, so a deep page
    skips index entries rather than table rows; then just those rows are read."""
    ids = Conversation.objects.owned_by(user).newest_first().values("pk")[offset : offset + limit]
    return list(conversation_list(user=user).filter(pk__in=ids))


def conversation_get(*, user: Any, conversation_id: int) -> Conversation:
    return Conversation.objects.owned_by(user).get(pk=conversation_id)


def conversation_turns(*, conversation: Conversation) -> QuerySet[Turn]:
    """The turns in conversation order (positions follow the item chain)."""
    return conversation.turns.order_by("position", "id")
