"""Voice call flows (WebRTC): start, broker the offer, confirm a direct call, end, fail.

Plain async functions: the consumer calls them and sends what they return. Each touches the
database once per unit of work, through conversations.services (the one write path), by
conversations.db (off the one thread-sensitive thread where the database allows it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from django.conf import settings

from conversations import db, services
from live import broadcast
from upstream import realtime, session_config
from upstream.errors import UpstreamError
from upstream.realtime import ClientSecret

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class CallState:
    """What one socket knows about its voice call."""

    conversation_id: int
    mode: str
    voice: str
    call_id: str = ""
    ended: bool = False
    key: ClientSecret | None = field(default=None, repr=False)


def calls_url() -> str:
    """Where a direct-mode browser posts its offer.

    The embedded engine is served by this very app, so the browser gets a same-origin path:
    the host name the server uses to reach itself may not be the one the browser used.
    """
    url = f"{settings.OPENAI_BASE_URL}/realtime/calls"
    path = urlsplit(url).path
    embedded = settings.USING_LOCAL_ENGINE and settings.LOCAL_REALTIME_ENABLED
    return path if embedded and path.startswith("/local-realtime/") else url


async def start_call(
    *, owner: object, mode: str, voice: str | None, admit: Callable[[], None] | None = None
) -> CallState:
    """Open the conversation; in direct mode also mint the browser's ephemeral key.

    `admit` (the limits' check, raising to refuse) runs in the transaction that opens the
    conversation, with the owner's row locked: two tabs starting at once are admitted one after
    the other. A key is minted only once the conversation is open, so never for a refused call.
    """
    chosen = session_config.choose_voice(voice)
    conversation = await db.run(
        services.start_conversation,
        owner=owner,
        transport="webrtc",
        mode=mode,
        model=settings.REALTIME_MODEL,
        voice=chosen,
        instructions=settings.REALTIME_INSTRUCTIONS,
        admit=admit,
    )
    state = CallState(conversation_id=conversation.pk, mode=mode, voice=chosen)
    if mode != "direct":
        await broadcast.call_changed(conversation.pk)
        return state
    config = session_config.build(voice=chosen)
    minting = realtime.create_client_secret(config, settings.REALTIME_EPHEMERAL_KEY_TTL)
    # The Live page's update and the upstream's key are independent: wait for both at once.
    _, state.key = await asyncio.gather(
        broadcast.call_changed(conversation.pk), _guarded(state, minting)
    )
    return state


async def answer_offer(state: CallState, offer_sdp: str) -> str:
    """Brokered mode: post the offer upstream with the server key; return the answer SDP.

    The call id is kept in `state` (so `end_call` hangs it up); recording the call as connected
    is `connected`'s, which the consumer awaits after sending the answer: the browser's
    connection set-up does not wait for the database."""
    began = time.perf_counter()
    config = session_config.build(voice=state.voice)
    call = await _guarded(state, realtime.create_call(offer_sdp, config))
    state.call_id = call.call_id
    # The server's share of call set-up, for capacity planning (see README "Talk page").
    elapsed_ms = round((time.perf_counter() - began) * 1000, 1)
    logger.info(
        "brokered offer answered",
        extra={"conversation_id": state.conversation_id, "call_id": call.call_id, "ms": elapsed_ms},
    )
    return call.answer_sdp


async def connected(state: CallState) -> None:
    """Record a brokered call as connected, after its answer went to the browser. A failure is
    logged, not raised: the call is up, and ending it still works (it has its call id)."""
    try:
        await db.run(
            services.mark_connected,
            conversation_id=state.conversation_id,
            call_id=state.call_id,
        )
    except Exception:
        logger.exception("call not recorded as connected", extra={"call_id": state.call_id})
        return
    await broadcast.call_changed(state.conversation_id)


async def confirm_direct(state: CallState, call_id: str) -> None:
    """Direct mode: the browser reports the call id it got, so the server can hang it up."""
    state.call_id = call_id
    await db.run(services.mark_connected, conversation_id=state.conversation_id, call_id=call_id)
    await broadcast.call_changed(state.conversation_id)


async def end_call(state: CallState, reason: str) -> None:
    """Hang up upstream (when the call id is known) and end the conversation. Idempotent."""
    if state.ended:
        return
    state.ended = True
    if state.call_id:
        try:
            await realtime.hangup(state.call_id)
        except UpstreamError as exc:
            # The conversation still ends: a call we cannot reach will time out upstream.
            logger.warning("hangup failed", extra={"call_id": state.call_id, "code": exc.code})
    await db.run(services.end_conversation, conversation_id=state.conversation_id, reason=reason)
    await broadcast.call_changed(state.conversation_id)


async def _guarded(state: CallState, pending: Awaitable[T]) -> T:
    """Await an upstream call; on failure mark the conversation failed, then re-raise."""
    try:
        return await pending
    except UpstreamError as exc:
        state.ended = True
        await db.run(
            services.fail_conversation,
            conversation_id=state.conversation_id,
            error=f"{exc.code}: {exc.message}",
        )
        await broadcast.call_changed(state.conversation_id)
        raise
