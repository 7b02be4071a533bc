"""Ending conversations nobody holds: their Daphne process was killed, so no `disconnect()` ran.

Each pass asks every open conversation's group (voice calls and text chats alike) for its holder
(signaling's presence roll call, through the channel layer, so any process may answer). An
answered conversation's sighting is stored; one unanswered since its last sighting (or its start)
for `stale_after` seconds is ended with reason STALE (a call is hung up upstream first; a chat's
upstream socket died with its process). The sightings live in the database, so a one-off pass
(from cron) and a long-running sweeper judge alike, and several sweepers may run.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation
from live.models import CallSighting
from live.selectors import OPEN_STATUSES
from signaling import calls, presence

logger = logging.getLogger(__name__)

STALE = "stale: no socket held the call"


@dataclass(frozen=True, slots=True)
class OpenCall:
    state: calls.CallState
    last_seen: datetime


def _open_calls() -> list[OpenCall]:
    found = Conversation.objects.filter(status__in=OPEN_STATUSES).select_related("sighting")
    return [OpenCall(_state(c), _last_seen(c)) for c in found]


def _state(conversation: Conversation) -> calls.CallState:
    return calls.CallState(
        conversation_id=conversation.pk,
        mode=conversation.mode,
        voice=conversation.voice,
        call_id=conversation.upstream_call_id,
    )


def _last_seen(conversation: Conversation) -> datetime:
    sighting = getattr(conversation, "sighting", None)
    return sighting.seen_at if sighting is not None else conversation.started_at


@transaction.atomic
def _record_sightings(conversation_ids: list[int], now: datetime) -> None:
    for conversation_id in conversation_ids:
        CallSighting.objects.update_or_create(
            conversation_id=conversation_id, defaults={"seen_at": now}
        )
    # Ended calls need no sighting any more.
    CallSighting.objects.exclude(conversation__status__in=OPEN_STATUSES).delete()


async def _held(call: OpenCall) -> bool | None:
    """True or False from the roll call; None when it could not be asked (channel layer down)."""
    try:
        return await presence.is_held(call.state.conversation_id)
    except Exception:
        logger.warning("roll call failed", exc_info=True)
        return None


async def sweep(*, stale_after: float) -> list[int]:
    """One pass; returns the ids of the conversations it ended."""
    found = await database_sync_to_async(_open_calls)()
    answers = await asyncio.gather(*(_held(call) for call in found))
    now = timezone.now()
    held = [c.state.conversation_id for c, a in zip(found, answers, strict=True) if a]
    await database_sync_to_async(_record_sightings)(held, now)
    cutoff = now - timedelta(seconds=stale_after)
    stale = [c for c, a in zip(found, answers, strict=True) if a is False and c.last_seen < cutoff]
    for call in stale:
        logger.info("stale call ended", extra={"conversation_id": call.state.conversation_id})
        await calls.end_call(call.state, STALE)
    return [call.state.conversation_id for call in stale]
