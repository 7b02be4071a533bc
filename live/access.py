"""Who may watch calls live: staff who may view conversations (transcripts are private)."""

from __future__ import annotations

from typing import Any


def may_watch(user: Any) -> bool:
    return bool(
        user.is_authenticated and user.is_staff and user.has_perm("conversations.view_conversation")
    )
