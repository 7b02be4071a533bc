"""The one write path for conversations. Views, consumers and the admin call these, nothing else.

Each service takes keyword-only arguments and runs in one transaction that locks the
conversation row, so two batches for the same call (browser relay and sideband) are applied one
after the other. Nothing is broadcast from here: callers get what changed back and publish it
themselves, after these functions have returned (and so after the commit).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, ResponseUsage, Turn
from conversations.transcript import Outcome, Transcript, TurnState, UsageState

logger = logging.getLogger(__name__)

_TURN_FIELDS = ("role", "text", "status", "previous_item_id", "response_id", "position")
_FIRST_WORDS_LENGTH = Conversation._meta.get_field("first_words").max_length or 200


@dataclass(frozen=True, slots=True)
class ChangedTurn:
    """A turn as it now stands in the record, for showing it live."""

    item_id: str
    role: str
    text: str
    status: str
    position: int


@dataclass(frozen=True, slots=True)
class Rejection:
    event_type: str
    event_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What a batch did. `stored + unchanged + len(rejected)` is the number of events given."""

    stored: int
    unchanged: int
    rejected: tuple[Rejection, ...]
    turns: tuple[ChangedTurn, ...]


def _check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {sorted(choices)}")


def _locked(conversation_id: int) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation_id)


@transaction.atomic
def start_conversation(
    *, owner: Any, transport: str, mode: str, model: str, voice: str, instructions: str
) -> Conversation:
    """A new conversation, connecting until `mark_connected`."""
    _check_choice("transport", transport, Conversation.Transport.values)
    _check_choice("mode", mode, Conversation.Mode.values)
    return Conversation.objects.create(
        owner=owner,
        transport=transport,
        mode=mode,
        model=model,
        voice=voice,
        instructions=instructions,
    )


@transaction.atomic
def mark_connected(*, conversation_id: int, call_id: str = "", session_id: str = "") -> None:
    """The upstream answered: active from now on, with its ids (ids already known are kept)."""
    conversation = _locked(conversation_id)
    if conversation.status == Conversation.Status.CONNECTING:
        conversation.status = Conversation.Status.ACTIVE
    if call_id and not conversation.upstream_call_id:
        conversation.upstream_call_id = call_id
    if session_id and not conversation.upstream_session_id:
        conversation.upstream_session_id = session_id
    conversation.save(update_fields=["status", "upstream_call_id", "upstream_session_id"])


@transaction.atomic
def end_conversation(*, conversation_id: int, reason: str) -> None:
    """Ended, with why. Ending twice keeps the first end; a failed conversation stays failed."""
    conversation = _locked(conversation_id)
    if conversation.ended_at is not None:
        return
    conversation.ended_at = timezone.now()
    conversation.end_reason = reason[: Conversation._meta.get_field("end_reason").max_length]
    if conversation.status != Conversation.Status.FAILED:
        conversation.status = Conversation.Status.ENDED
    conversation.save(update_fields=["ended_at", "end_reason", "status"])


@transaction.atomic
def fail_conversation(*, conversation_id: int, error: str) -> None:
    """Failed, with the error. The first error is kept: later ones are usually its echoes."""
    conversation = _locked(conversation_id)
    conversation.status = Conversation.Status.FAILED
    conversation.error = conversation.error or error
    conversation.ended_at = conversation.ended_at or timezone.now()
    conversation.save(update_fields=["status", "error", "ended_at"])


@transaction.atomic
def record_events(
    *, conversation_id: int, events: Sequence[Mapping[str, Any]], source: str
) -> RecordResult:
    """Apply a batch of Realtime server events to the record. Idempotent: a batch (or any event
    in it) given again leaves the database as it was."""
    _check_choice("source", source, Turn.Source.values)
    conversation = _locked(conversation_id)
    turns = {t.item_id: t for t in conversation.turns.order_by("position", "id")}
    usages = {u.response_id: u for u in conversation.responses.all()}
    transcript = Transcript.seeded(
        turns=[_turn_state(t) for t in turns.values()],
        usages=[UsageState(u.response_id, u.status, u.usage) for u in usages.values()],
        session_id=conversation.upstream_session_id,
    )
    outcomes = transcript.feed_all(events)
    changed = _save_turns(conversation, transcript.ordered_turns(), turns, source)
    _save_usages(conversation, transcript.usages.values(), usages)
    _refresh_derived(conversation, transcript)
    result = _result(outcomes, changed)
    if result.rejected:
        _log_rejections(conversation_id, result.rejected)
    return result


def _turn_state(turn: Turn) -> TurnState:
    return TurnState(
        turn.item_id, turn.role, turn.text, turn.status, turn.previous_item_id, turn.response_id
    )


def _turn_values(state: TurnState, position: int) -> dict[str, Any]:
    return {
        "role": state.role,
        "text": state.text,
        "status": state.status,
        "previous_item_id": state.previous_item_id,
        "response_id": state.response_id,
        "position": position,
    }


def _save_turns(
    conversation: Conversation,
    ordered: list[TurnState],
    stored: dict[str, Turn],
    source: str,
) -> list[ChangedTurn]:
    """Create and update the turns that differ from `ordered`, positions from the chain."""
    now, created, updated, changed = timezone.now(), [], [], []
    for position, state in enumerate(ordered):
        values = _turn_values(state, position)
        row = stored.get(state.item_id)
        if row is None:
            row = Turn(conversation=conversation, item_id=state.item_id, source=source, **values)
            created.append(row)
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            updated.append(row)
        else:
            continue
        if row.completed_at is None and row.status != Turn.Status.IN_PROGRESS:
            row.completed_at = now
        changed.append(ChangedTurn(row.item_id, row.role, row.text, row.status, row.position))
    Turn.objects.bulk_create(created)
    Turn.objects.bulk_update(updated, [*_TURN_FIELDS, "completed_at"])
    return changed


def _save_usages(
    conversation: Conversation, usages: Iterable[UsageState], stored: dict[str, ResponseUsage]
) -> None:
    created, updated = [], []
    for usage in usages:
        row = stored.get(usage.response_id)
        if row is None:
            created.append(
                ResponseUsage(
                    conversation=conversation,
                    response_id=usage.response_id,
                    status=usage.status,
                    usage=dict(usage.usage),
                )
            )
        elif (row.status, row.usage) != (usage.status, usage.usage):
            row.status, row.usage = usage.status, dict(usage.usage)
            updated.append(row)
    ResponseUsage.objects.bulk_create(created)
    ResponseUsage.objects.bulk_update(updated, ["status", "usage"])


def _refresh_derived(conversation: Conversation, transcript: Transcript) -> None:
    """The totals, turn count and opening words the lists show without reading the turns."""
    totals = transcript.totals()
    opening = next((t.text for t in transcript.ordered_turns() if t.text), "")
    conversation.input_tokens = totals.input_tokens
    conversation.cached_input_tokens = totals.cached_input_tokens
    conversation.output_tokens = totals.output_tokens
    conversation.total_tokens = totals.total_tokens
    conversation.turn_count = len(transcript.turns)
    conversation.first_words = " ".join(opening.split())[:_FIRST_WORDS_LENGTH]
    conversation.upstream_session_id = transcript.session_id
    conversation.save(update_fields=_DERIVED_FIELDS)


_DERIVED_FIELDS = [
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "total_tokens",
    "turn_count",
    "first_words",
    "upstream_session_id",
]


def _result(outcomes: list[Outcome], changed: list[ChangedTurn]) -> RecordResult:
    rejected = tuple(
        Rejection(o.event_type, o.event_id, o.reason) for o in outcomes if o.kind == "rejected"
    )
    return RecordResult(
        stored=sum(o.kind == "changed" for o in outcomes),
        unchanged=sum(o.kind == "unchanged" for o in outcomes),
        rejected=rejected,
        turns=tuple(changed),
    )


def _log_rejections(conversation_id: int, rejected: tuple[Rejection, ...]) -> None:
    # Logged, not raised: one bad event must not cost the rest of the batch.
    reasons = sorted({r.reason for r in rejected})
    extra = {"conversation_id": conversation_id, "count": len(rejected), "reasons": reasons}
    logger.warning("realtime events rejected", extra=extra)
