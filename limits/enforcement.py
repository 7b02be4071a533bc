"""Limits applied to live calls: admission before a call, and a small guard task per held call.

The signaling consumer has `check` run in the transaction that opens a voice call's
conversation (so the concurrent-calls limit holds for two tabs at once, and a direct-mode key is
minted only within budget), `admit` before a text chat, `guard` when it holds a call and
`release` when its socket goes.
The guard warns the browser (`call.warning`) once per limit shortly before it, then hangs up
upstream and ends the conversation with the limit as its reason (signaling.calls.end_call).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from conversations.models import Conversation
from limits import rules, selectors
from signaling import calls, messages
from signaling.messages import ProtocolError

logger = logging.getLogger(__name__)

SendJson = Callable[[dict[str, Any]], Awaitable[None]]
_guards: dict[str, asyncio.Task[None]] = {}

# Without a budget only the call's own clock and silence can end it, and neither comes sooner
# than its limits say: its guard sleeps until the next warning point rather than checking every
# LIMITS_CHECK_SECONDS, though at most this long, so that a policy changed meanwhile applies.
UNBUDGETED_CHECK_SECONDS = 60.0


def _refusal(user: Any, mode: str) -> tuple[str | None, rules.Limits]:
    limits, running = selectors.admission(user)
    # A text chat is not a call: only the budgets apply to it.
    running = running if mode != "text" else 0
    if not rules.has_budget(limits):
        # Nothing to sum: the month's usage was most of an admission's cost (bench.broker).
        none = rules.Usage()
        return rules.refusal(limits, day=none, month=none, active_calls=running), limits
    now = selectors.standing(user, timezone.now())
    return rules.refusal(limits, day=now.today, month=now.month, active_calls=running), limits


def check(user: Any, mode: str) -> rules.Limits:
    """Raise ProtocolError (`budget_exceeded`, `too_many_calls`) when the user may not call now.

    For a voice call, run it inside the transaction that opens the conversation (the `admit`
    of `signaling.calls.start_call`): there its first read locks the user's row
    (`selectors.admission`), so two calls started at once are checked one after the other.
    Returns the user's limits, which the call's guard starts from."""
    code, limits = _refusal(user, mode)
    if code is not None:
        raise ProtocolError(code, rules.MESSAGES[code])
    return limits


class Admission:
    """`check` as the `admit` of `signaling.calls.start_call`, keeping the limits it read."""

    def __init__(self, user: Any, mode: str) -> None:
        self.user, self.mode = user, mode
        self.limits: rules.Limits | None = None

    def __call__(self) -> None:
        self.limits = check(self.user, self.mode)


async def admit(*, user: Any, mode: str) -> None:
    """`check` from async code, for a start that is not a voice call (a text chat)."""
    await database_sync_to_async(check)(user, mode)


def _nearest_end_of(
    conversation: Conversation,
    user: Any,
    now: datetime,
    usage: selectors.RunningUsage,
    *,
    idle: bool = True,
) -> tuple[str, float, bool]:
    """The limit that ends the call first, the seconds left before it, and whether the user has
    a budget (which other calls of theirs spend too)."""
    limits = selectors.effective_limits(user)
    budgeted = rules.has_budget(limits)
    today = month = rules.Usage()
    call_cost = 0.0
    if budgeted:  # (usage and cost matter only to budgets)
        # The running-call cache, not `period_usage`: this runs every few seconds for every call.
        today, month = usage.at(user, now)
        call_cost = selectors.conversation_cost(conversation)
    # Without `idle` the call counts as just heard, so the idle timeout is never the one reached.
    quiet = (now - selectors.last_activity(conversation)).total_seconds() if idle else 0.0
    snapshot = rules.CallSnapshot(
        elapsed=(now - conversation.started_at).total_seconds(),
        quiet=quiet,
        call_cost_usd=call_cost,
        day=today,
        month=month,
    )
    reason, left = rules.nearest_end(
        limits, snapshot, upstream_max_seconds=settings.REALTIME_MAX_SESSION_SECONDS
    )
    return reason, left, budgeted


@database_sync_to_async
def _nearest_end(
    conversation_id: int, user: Any, usage: selectors.RunningUsage
) -> tuple[str, float, bool]:
    conversation = Conversation.objects.get(pk=conversation_id)
    return _nearest_end_of(conversation, user, timezone.now(), usage)


def _delay(left: float, *, budgeted: bool) -> float:
    """Sleep until the next check, the warning point or the end, whichever comes first."""
    warning = settings.LIMITS_WARNING_SECONDS
    until_next = left - warning if left > warning else left
    most = settings.LIMITS_CHECK_SECONDS if budgeted else UNBUDGETED_CHECK_SECONDS
    return max(min(most, until_next), 0.05)


def _first_delay(limits: rules.Limits | None) -> float:
    """Until a call's first check: soon, unless its limits are known (from its admission; not
    for a resumed call) without a budget, and its earliest warning point is further away."""
    soon = min(settings.LIMITS_CHECK_SECONDS, 1.0)
    if limits is None or rules.has_budget(limits):
        return soon
    clock = (limits.max_call_seconds, limits.idle_timeout_seconds)
    earliest = min(*clock, settings.REALTIME_MAX_SESSION_SECONDS)
    return max(soon, min(UNBUDGETED_CHECK_SECONDS, earliest - settings.LIMITS_WARNING_SECONDS))


async def _end(state: calls.CallState, reason: str, send_json: SendJson) -> None:
    logger.info("call ended by a limit", extra={"conversation_id": state.conversation_id})
    await calls.end_call(state, reason)
    await send_json(messages.call_ended(conversation_id=state.conversation_id, reason=reason))


@dataclass(slots=True)
class _Guard:
    """What one call's guard keeps between checks."""

    user: Any
    send_json: SendJson
    warned: set[str] = field(default_factory=set)
    usage: selectors.RunningUsage = field(default_factory=selectors.RunningUsage)


async def _check(state: calls.CallState, guard: _Guard) -> float:
    """One look at the call's limits; returns how long to sleep before the next."""
    reason, left, budgeted = await _nearest_end(state.conversation_id, guard.user, guard.usage)
    send_json, warned = guard.send_json, guard.warned
    if state.ended:
        return 0.0
    if left <= 0:
        await _end(state, reason, send_json)
    elif left <= settings.LIMITS_WARNING_SECONDS and reason not in warned:
        warned.add(reason)
        await send_json(
            messages.call_warning(
                reason=reason, message=rules.MESSAGES[reason], seconds_left=round(left)
            )
        )
    elif left > settings.LIMITS_WARNING_SECONDS:
        warned.discard(reason)  # moved away again (speech resets the idle timer): warn anew
    return _delay(left, budgeted=budgeted)


async def _watch(
    state: calls.CallState, user: Any, send_json: SendJson, limits: rules.Limits | None
) -> None:
    kept = _Guard(user, send_json)
    delay = _first_delay(limits)
    while not state.ended:
        # Each sleep a little shorter at random (never past a warning point or the end): calls
        # started together would otherwise check in step, a burst of queries every few seconds
        # that delayed every relayed batch's ack behind it (bench.ingestion's p99).
        await asyncio.sleep(delay * random.uniform(0.75, 1.0))
        if state.ended:
            return
        try:
            delay = await _check(state, kept)
        except Exception:
            # Tried again at the next check: a database hiccup must not lift the limits.
            logger.exception("limit check failed", extra={"conversation_id": state.conversation_id})
            delay = settings.LIMITS_CHECK_SECONDS


def guard(
    holder: str,
    state: calls.CallState,
    *,
    user: Any,
    send_json: SendJson,
    limits: rules.Limits | None = None,
) -> None:
    """Run the limits of `state` for the socket `holder` (its channel name) until it ends;
    `limits`, when known, are those its admission read."""
    release(holder)
    task = asyncio.get_running_loop().create_task(_watch(state, user, send_json, limits))
    _guards[holder] = task
    task.add_done_callback(
        lambda done: _guards.pop(holder, None) if _guards.get(holder) is done else None
    )


def release(holder: str) -> None:
    """The socket is gone: its guard stops (a resuming socket starts its own)."""
    task = _guards.pop(holder, None)
    if task is not None:
        task.cancel()


@database_sync_to_async
def overdue(conversation_id: int, usage: selectors.RunningUsage) -> str | None:
    """The limit a call is past, for the sideband watcher of a brokered call (whose tab may be
    gone); `usage` is kept by the watcher for the call from one check to the next. Idle is left
    to the watcher's own quiet timer: its activity is the upstream's events."""
    conversation = Conversation.objects.select_related("owner").get(pk=conversation_id)
    now = timezone.now()
    reason, left, _ = _nearest_end_of(conversation, conversation.owner, now, usage, idle=False)
    return reason if left <= 0 else None
