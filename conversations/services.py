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
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.models import Conversation, ResponseUsage, Turn
from conversations.transcript import (
    IN_PROGRESS,
    Outcome,
    Transcript,
    TurnState,
    UsageState,
    usage_totals,
)

logger = logging.getLogger(__name__)

_TURN_FIELDS = (
    "role",
    "text",
    "status",
    "previous_item_id",
    "response_id",
    "position",
    "source",
    "browser_text",
)
_FIRST_WORDS_LENGTH = Conversation._meta.get_field("first_words").max_length or 200
_FLAG_REASON_LENGTH = Conversation._meta.get_field("flag_reason").max_length or 200
_END_REASON_LENGTH = Conversation._meta.get_field("end_reason").max_length or 200


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


# The status changes below are one conditional UPDATE each, with the rules in SQL: no lock, read
# and save in a transaction (three round trips on a call's set-up and end path), and a concurrent
# writer is still serialised by the row lock the UPDATE itself takes.


def mark_connected(*, conversation_id: int, call_id: str = "", session_id: str = "") -> None:
    """The upstream answered: active from now on, with its ids (ids already known are kept)."""
    values: dict[str, Any] = {
        "status": Case(
            When(status=Conversation.Status.CONNECTING, then=Value(Conversation.Status.ACTIVE)),
            default=F("status"),
        )
    }
    if call_id:
        values["upstream_call_id"] = _unless_set("upstream_call_id", call_id)
    if session_id:
        values["upstream_session_id"] = _unless_set("upstream_session_id", session_id)
    if not Conversation.objects.filter(pk=conversation_id).update(**values):
        raise Conversation.DoesNotExist(f"no conversation {conversation_id}")


def end_conversation(*, conversation_id: int, reason: str) -> None:
    """Ended, with why. Ending twice keeps the first end; a failed conversation stays failed."""
    running = Conversation.objects.filter(pk=conversation_id, ended_at__isnull=True)
    ended = running.update(
        ended_at=timezone.now(),
        end_reason=reason[:_END_REASON_LENGTH],
        status=Case(
            When(status=Conversation.Status.FAILED, then=Value(Conversation.Status.FAILED)),
            default=Value(Conversation.Status.ENDED),
        ),
    )
    if not ended and not Conversation.objects.filter(pk=conversation_id).exists():
        raise Conversation.DoesNotExist(f"no conversation {conversation_id}")


def fail_conversation(*, conversation_id: int, error: str) -> None:
    """Failed, with the error. The first error is kept: later ones are usually its echoes."""
    failed = Conversation.objects.filter(pk=conversation_id).update(
        status=Conversation.Status.FAILED,
        error=_unless_set("error", error),
        ended_at=Coalesce(F("ended_at"), Value(timezone.now(), output_field=DateTimeField())),
    )
    if not failed:
        raise Conversation.DoesNotExist(f"no conversation {conversation_id}")


def _unless_set(name: str, value: str) -> Case:
    """SQL for "the column's value if it has one, else `value`" (a text column, blank = unset)."""
    field = Conversation._meta.get_field(name)
    return Case(When(**{name: ""}, then=Value(value)), default=F(name), output_field=field)


@transaction.atomic
def record_events(
    *, conversation_id: int, events: Sequence[Mapping[str, Any]], source: str
) -> RecordResult:
    """Apply a batch of Realtime server events to the record. Idempotent: a batch (or any event
    in it) given again leaves the database as it was.

    Two sources may describe the same item: the browser's relay (fast, untrusted) and the
    sideband (the upstream's own events, authoritative). Each turn is stored once; words the
    sideband gave are never replaced by the browser's, and a disagreement flags the conversation
    (see `_reconcile`)."""
    _check_choice("source", source, Turn.Source.values)
    conversation = _locked(conversation_id)
    turns = {t.item_id: t for t in conversation.turns.order_by("position", "id")}
    usages = {u.response_id: u for u in conversation.responses.all()}
    transcript = Transcript.seeded(
        turns=[_seed_state(t, source) for t in turns.values()],
        usages=[UsageState(u.response_id, u.status, u.usage) for u in usages.values()],
        session_id=conversation.upstream_session_id,
    )
    outcomes = transcript.feed_all(events)
    ordered = transcript.ordered_turns()
    merged = [_reconcile(state, turns.get(state.item_id), source) for state in ordered]
    changed = _save_turns(conversation, merged, turns)
    kept = _save_usages(conversation, transcript.usages.values(), usages, source)
    _flag_disagreements(conversation, merged)
    _refresh_derived(conversation, [m.state for m in merged], kept, transcript.session_id)
    result = _result(outcomes, changed)
    if result.rejected:
        _log_rejections(conversation_id, result.rejected)
    return result


@dataclass(slots=True)
class _Merged:
    """A turn as it will be stored: the record's state, who gave its words, what the browser said
    when that differs."""

    state: TurnState
    source: str
    browser_text: str


def _turn_state(turn: Turn) -> TurnState:
    return TurnState(
        turn.item_id, turn.role, turn.text, turn.status, turn.previous_item_id, turn.response_id
    )


def _seed_state(turn: Turn, source: str) -> TurnState:
    """The state a batch continues from. A sideband batch starts browser-given words blank, so
    that what it ends with is the upstream's own account of the item (links are kept)."""
    state = _turn_state(turn)
    if source == Turn.Source.SIDEBAND and turn.source == Turn.Source.BROWSER:
        state.text, state.status = "", IN_PROGRESS
    return state


def _has_words(text: str, status: str) -> bool:
    """Final (or partly final) words: text, or a status that says the item is settled."""
    return bool(text) or status != IN_PROGRESS


def _reconcile(state: TurnState, row: Turn | None, source: str) -> _Merged:
    """One item's stored form after a batch from `source` (the rules of issue 4)."""
    if row is None or row.source == source or source == Turn.Source.SERVER:
        return _Merged(state, source, row.browser_text if row is not None else "")
    if source == Turn.Source.SIDEBAND:
        return _confirmed_by_sideband(state, row)
    return _relayed_over_sideband(state, row)


def _confirmed_by_sideband(state: TurnState, row: Turn) -> _Merged:
    if not _has_words(state.text, state.status):
        # The sideband has not given this item's words yet: the browser's stay for now.
        state.text, state.status = row.text, row.status
        return _Merged(state, row.source, row.browser_text)
    differs = bool(row.text) and row.text != state.text
    return _Merged(state, Turn.Source.SIDEBAND, row.text if differs else "")


def _relayed_over_sideband(state: TurnState, row: Turn) -> _Merged:
    if not _has_words(row.text, row.status):
        # Seen by the sideband but without words yet: the browser's words show meanwhile.
        given = _has_words(state.text, state.status)
        return _Merged(state, Turn.Source.BROWSER if given else row.source, "")
    relayed = state.text
    state.text, state.status = row.text, row.status
    differs = bool(relayed) and relayed != row.text
    return _Merged(state, row.source, relayed if differs else row.browser_text)


def _turn_values(merged: _Merged, position: int) -> dict[str, Any]:
    state = merged.state
    return {
        "role": state.role,
        "text": state.text,
        "status": state.status,
        "previous_item_id": state.previous_item_id,
        "response_id": state.response_id,
        "position": position,
        "source": merged.source,
        "browser_text": merged.browser_text,
    }


def _save_turns(
    conversation: Conversation,
    ordered: list[_Merged],
    stored: dict[str, Turn],
) -> list[ChangedTurn]:
    """Create and update the turns that differ from `ordered`, positions from the chain."""
    now, created, updated, changed = timezone.now(), [], [], []
    for position, merged in enumerate(ordered):
        values = _turn_values(merged, position)
        row = stored.get(merged.state.item_id)
        if row is None:
            row = Turn(conversation=conversation, item_id=merged.state.item_id, **values)
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


def _flag_disagreements(conversation: Conversation, merged: list[_Merged]) -> None:
    disputed = [m.state.item_id for m in merged if m.browser_text]
    if disputed:
        _flag(conversation, f"browser text differs from the upstream's for {', '.join(disputed)}")


def _flag(conversation: Conversation, reason: str) -> None:
    """Flag once: the first reason is kept (later ones are usually the same dispute again)."""
    if conversation.flagged:
        return
    conversation.flagged = True
    conversation.flag_reason = reason[:_FLAG_REASON_LENGTH]
    conversation.save(update_fields=["flagged", "flag_reason"])


@transaction.atomic
def flag_unconfirmed_turns(*, conversation_id: int) -> list[str]:
    """For a call the sideband watched from before its first item to its end: turns only the
    browser reported were never produced upstream. Their words leave the record (kept as
    `browser_text`, the turn marked failed) and the conversation is flagged. Returns their ids."""
    conversation = _locked(conversation_id)
    unconfirmed = list(
        conversation.turns.filter(source=Turn.Source.BROWSER).exclude(text="").order_by("position")
    )
    if not unconfirmed:
        return []
    for turn in unconfirmed:
        turn.browser_text, turn.text, turn.status = turn.text, "", Turn.Status.FAILED
    Turn.objects.bulk_update(unconfirmed, ["browser_text", "text", "status"])
    item_ids = [turn.item_id for turn in unconfirmed]
    _flag(conversation, f"browser relayed items the upstream never produced: {', '.join(item_ids)}")
    _refresh_first_words(conversation)
    return item_ids


def _refresh_first_words(conversation: Conversation) -> None:
    texts = conversation.turns.exclude(text="").order_by("position").values_list("text", flat=True)
    opening = texts.first() or ""
    conversation.first_words = " ".join(opening.split())[:_FIRST_WORDS_LENGTH]
    conversation.save(update_fields=["first_words"])


def _save_usages(
    conversation: Conversation,
    usages: Iterable[UsageState],
    stored: dict[str, ResponseUsage],
    source: str,
) -> list[Mapping[str, Any]]:
    """Store new usage; returns every usage object kept. The browser may add a response's usage
    but never change one already stored (the sideband's may be the one stored)."""
    created, updated = [], []
    kept = {response_id: row.usage for response_id, row in stored.items()}
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
        elif source == Turn.Source.BROWSER or (row.status, row.usage) == (
            usage.status,
            usage.usage,
        ):
            continue
        else:
            row.status, row.usage = usage.status, dict(usage.usage)
            updated.append(row)
        kept[usage.response_id] = usage.usage
    ResponseUsage.objects.bulk_create(created)
    ResponseUsage.objects.bulk_update(updated, ["status", "usage"])
    return list(kept.values())


def _refresh_derived(
    conversation: Conversation,
    turns: list[TurnState],
    usages: Iterable[Mapping[str, Any]],
    session_id: str,
) -> None:
    """The totals, turn count and opening words the lists show without reading the turns."""
    totals = usage_totals(usages)
    opening = next((t.text for t in turns if t.text), "")
    conversation.input_tokens = totals.input_tokens
    conversation.cached_input_tokens = totals.cached_input_tokens
    conversation.output_tokens = totals.output_tokens
    conversation.total_tokens = totals.total_tokens
    conversation.turn_count = len(turns)
    conversation.first_words = " ".join(opening.split())[:_FIRST_WORDS_LENGTH]
    conversation.upstream_session_id = session_id
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
