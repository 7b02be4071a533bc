"""The one write path for conversations. Views, consumers and the admin call these, nothing else.

Each service takes keyword-only arguments and runs in one transaction that locks the
conversation row, so two batches for the same call (browser relay and sideband) are applied one
after the other. Nothing is broadcast from here: callers get what changed back and publish it
themselves, after these functions have returned (and so after the commit).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations import statements
from conversations.models import Conversation, ResponseUsage, Turn
from conversations.pending import CONVERSATION_COLUMNS, PendingWrites
from conversations.reconciliation import Merged, reconcile, seed_state
from conversations.transcript import (
    Outcome,
    Transcript,
    UsageState,
    UsageTotals,
    usage_totals,
)

logger = logging.getLogger(__name__)

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


# What a batch reads and writes of its conversation (any other field would load when read).
_RECORD_FIELDS = (*CONVERSATION_COLUMNS, "flagged", "flag_reason")
# Asked on every batch: `TextChoices.values` builds a new list each time.
_SOURCES = frozenset(Turn.Source.values)


def _check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {sorted(choices)}")


def _locked(conversation_id: int) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation_id)


@transaction.atomic
def start_conversation(
    *,
    owner: Any,
    transport: str,
    mode: str,
    model: str,
    voice: str,
    instructions: str,
    admit: Callable[[], None] | None = None,
) -> Conversation:
    """A new conversation, connecting until `mark_connected`.

    `admit`, when given, runs first in the same transaction and raises to refuse. It must
    serialise the starts of one owner (two tabs), so that the second sees the first's
    conversation: `limits.enforcement.check` reads with the owner's row locked. (SQLite needs no
    row lock: its transactions begin IMMEDIATE, one writer at a time, voiceapp/settings.py.)"""
    _check_choice("transport", transport, Conversation.Transport.values)
    _check_choice("mode", mode, Conversation.Mode.values)
    if admit is not None:
        admit()
    conversation = Conversation(
        owner=owner,
        transport=transport,
        mode=mode,
        model=model,
        voice=voice,
        instructions=instructions,
    )
    statements.insert_row(conversation)  # every call and key makes one: written out
    return conversation


# The status changes below are one conditional UPDATE each, with the rules in SQL: no lock, read
# and save in a transaction (three round trips on a call's set-up and end path), and a concurrent
# writer is still serialised by the row lock the UPDATE itself takes. The two on every call's
# path (connected, ended) are written out once (conversations/statements.py), as admission is
# (limits.selectors): built by the ORM, their CASE expressions cost ~0.8 ms of CPU to compile per
# call, ten times the statement.


def mark_connected(*, conversation_id: int, call_id: str = "", session_id: str = "") -> None:
    """The upstream answered: active from now on, with its ids (ids already known are kept)."""
    ids = {"upstream_call_id": call_id, "upstream_session_id": session_id}
    columns = tuple(name for name, value in ids.items() if value)
    params = [Conversation.Status.CONNECTING.value, Conversation.Status.ACTIVE.value]
    params += [ids[name] for name in columns]
    if not statements.execute(statements.connected_sql(columns), [*params, conversation_id]):
        raise Conversation.DoesNotExist(f"no conversation {conversation_id}")


def end_conversation(*, conversation_id: int, reason: str) -> None:
    """Ended, with why. Ending twice keeps the first end; a failed conversation stays failed."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    failed, ended = Conversation.Status.FAILED.value, Conversation.Status.ENDED.value
    params = [now, reason[:_END_REASON_LENGTH], failed, ended, conversation_id]
    ended_now = statements.execute(statements.ended_sql(), params)
    if not ended_now and not Conversation.objects.filter(pk=conversation_id).exists():
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


@dataclass(slots=True)
class Recording:
    """One conversation's record as this process last committed it, kept between batches by
    whoever relays them (the signaling socket), so that a batch need not reload every turn.

    It is current while `revision` equals the conversation's `record_revision`; any other
    writer (the sideband watcher, another socket) bumps that, and the next batch reloads. None
    means "reload": before the first batch, and from the start of each batch until its commit
    (a rolled-back batch leaves it None). Used by one caller at a time."""

    conversation_id: int
    source: str
    revision: int | None = None
    transcript: Transcript = field(default_factory=Transcript)
    turns: dict[str, Turn] = field(default_factory=dict)
    usages: dict[str, ResponseUsage] = field(default_factory=dict)
    # Some turn row was inserted without its primary key coming back (a backend without
    # RETURNING): updates need it.
    keyless: bool = False

    def _confirm(self, revision: int) -> None:
        # Kept only while small enough to hold between batches (it is per socket), and only with
        # every row's primary key. Otherwise emptied, and the next batch reads the record as if
        # there were no recording.
        if len(self.turns) > MAX_KEPT_TURNS or self.keyless:
            self.turns, self.usages, self.transcript = {}, {}, Transcript()
            self.keyless = False
            return
        self.revision = revision


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of events for `record_batches`."""

    conversation_id: int
    events: Sequence[Mapping[str, Any]]
    source: str
    recording: Recording | None = None


# A recording remembers every event id it was fed (so a resent batch is skipped early); past
# this many it is reloaded, which forgets them (feeding an event again still changes nothing).
MAX_REMEMBERED_EVENTS = 20_000
# Past this many turns (hours of talk) a recording is not kept between batches: each batch reads
# the record again, as without one, rather than every such socket holding it all in memory.
MAX_KEPT_TURNS = 2_000


def record_events(
    *,
    conversation_id: int,
    events: Sequence[Mapping[str, Any]],
    source: str,
    recording: Recording | None = None,
) -> RecordResult:
    """Apply a batch of Realtime server events to the record. Idempotent: a batch (or any event
    in it) given again leaves the database as it was.

    Two sources may describe the same item: the browser's relay (fast, untrusted) and the
    sideband (the upstream's own events, authoritative). Each turn is stored once; words the
    sideband gave are never replaced by the browser's, and a disagreement flags the conversation
    (see `conversations.reconciliation`). With a `recording` of this conversation, the batch
    continues from it when no one else has written since, and keeps it current for the next.

    A group of one: the same transaction, lock and writes, so that a lone batch (most of them at
    a calm rate: the writer groups only what arrives during a write) locks its row through the
    written-out statement too, not the ORM's `select_for_update().get()` compiled per batch."""
    return record_batches(batches=[Batch(conversation_id, events, source, recording)])[0]


@transaction.atomic
def record_batches(*, batches: Sequence[Batch]) -> list[RecordResult]:
    """Each batch applied as `record_events` describes, in order, in one transaction: one commit
    for all, and their rows written together (`conversations.pending`). The conversations are
    locked together, in id order, so two such groups never deadlock."""
    for batch in batches:
        _check_choice("source", batch.source, _SOURCES)
    ids = sorted({batch.conversation_id for batch in batches})
    locked = statements.locked_rows(Conversation, ids, _RECORD_FIELDS)
    conversations = {conversation.pk: conversation for conversation in locked}
    missing = set(ids) - conversations.keys()
    if missing:
        raise Conversation.DoesNotExist(f"no conversation {sorted(missing)}")
    pending = PendingWrites()
    results = [
        _record(conversations[b.conversation_id], b.events, b.source, b.recording, pending)
        for b in batches
    ]
    pending.flush()
    return results


def _record(
    conversation: Conversation,
    events: Sequence[Mapping[str, Any]],
    source: str,
    recording: Recording | None,
    pending: PendingWrites,
) -> RecordResult:
    """One batch, inside the caller's transaction, `conversation` locked; its rows are left in
    `pending` for the caller to write."""
    kept = recording is not None
    recording = _current(recording, conversation, source, pending)
    transcript = recording.transcript
    transcript.session_id = conversation.upstream_session_id or transcript.session_id
    outcomes = transcript.feed_all(events)
    changed: list[ChangedTurn] = []
    if any(outcome.kind == "changed" for outcome in outcomes):
        changed = _write(conversation, recording, source, pending)
    if kept:
        revision = conversation.record_revision
        transaction.on_commit(functools.partial(recording._confirm, revision))
    result = _result(outcomes, changed)
    if result.rejected:
        _log_rejections(conversation.pk, result.rejected)
    return result


def _current(
    recording: Recording | None, conversation: Conversation, source: str, pending: PendingWrites
) -> Recording:
    """`recording` if it still matches the stored record, else one reloaded from the database.
    A sideband batch always reloads: it starts from browser words blanked (`seed_state`)."""
    if recording is None or recording.conversation_id != conversation.pk:
        recording = Recording(conversation.pk, source)
    stale = (
        recording.revision != conversation.record_revision
        or recording.source != source
        or source == Turn.Source.SIDEBAND
        or recording.transcript.events_seen > MAX_REMEMBERED_EVENTS
    )
    if stale:
        pending.flush()  # what earlier batches of the transaction changed is read back
        _reload(recording, conversation, source)
    recording.revision = None  # until this transaction commits
    return recording


def _reload(recording: Recording, conversation: Conversation, source: str) -> None:
    recording.source = source
    recording.turns = {t.item_id: t for t in conversation.turns.order_by("position", "id")}
    # In their order within the call, without the model's default ordering, which starts with
    # the conversation's own and so joins its table.
    usages = conversation.responses.order_by("created_at", "id")
    recording.usages = {u.response_id: u for u in usages}
    recording.transcript = Transcript.seeded(
        turns=[seed_state(t, source) for t in recording.turns.values()],
        usages=[UsageState(u.response_id, u.status, u.usage) for u in recording.usages.values()],
        session_id=conversation.upstream_session_id,
    )


def _write(
    conversation: Conversation, recording: Recording, source: str, pending: PendingWrites
) -> list[ChangedTurn]:
    """Store (in `pending`) what the transcript now says and differs from the stored rows; bump
    the revision when anything changed."""
    transcript, stored = recording.transcript, recording.turns
    ordered = transcript.ordered_turns()
    changes = transcript.take_changes()
    # Only turns this batch created, changed or relinked can differ from their rows, and, when
    # the order was rebuilt, turns whose position moved: the rest are not compared again (a long
    # call has thousands).
    if changes.reordered:
        candidates = [
            (position, state)
            for position, state in enumerate(ordered)
            if state.item_id in changes.items
            or (row := stored.get(state.item_id)) is None
            or row.position != position
        ]
    else:
        turns = transcript.turns
        candidates = sorted(
            (transcript.position(item_id), turns[item_id])
            for item_id in changes.items
            if item_id in turns
        )
    merged = {
        position: reconcile(state, stored.get(state.item_id), source)
        for position, state in candidates
    }
    changed, new_turns = _save_turns(conversation, merged, stored, pending)
    # Rows a backend cannot return keys for cannot be updated later: not kept (`_confirm`).
    returns_keys = connection.features.can_return_rows_from_bulk_insert
    recording.keyless = recording.keyless or bool(new_turns and not returns_keys)
    usage_rows = recording.usages
    usages = [transcript.usages[response_id] for response_id in changes.usages]
    created, updated = _save_usages(conversation, usages, usage_rows, source, pending)
    usages_written = bool(created or updated)
    flagged = _flag_disagreements(conversation, list(merged.values()))
    # The words as stored: this batch's merged turns, the others' rows.
    texts = (merged[p].state.text if p in merged else stored[s.item_id].text
             for p, s in enumerate(ordered))  # fmt: skip
    totals = _totals(conversation, created, updated, usage_rows)
    derived = _derived(conversation, len(ordered), next(filter(None, texts), ""), totals)
    derived += _changed(conversation, upstream_session_id=transcript.session_id)
    if changed or usages_written or flagged or derived:
        conversation.record_revision += 1
        pending.change([conversation])
    return changed


def _turn_values(merged: Merged, position: int) -> dict[str, Any]:
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
    merged_at: dict[int, Merged],
    stored: dict[str, Turn],
    pending: PendingWrites,
) -> tuple[list[ChangedTurn], list[Turn]]:
    """Create and update (in `pending`) the turns of `merged_at` (by position in the chain) that
    differ from their rows; the turns as they now stand, and the rows created. The rows created
    are added to `stored`; rows updated are updated there too."""
    now, created, updated, changed = timezone.now(), [], [], []
    for position, merged in merged_at.items():
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
    pending.create(created)
    pending.change(updated)
    stored.update((row.item_id, row) for row in created)
    return changed, created


def _flag_disagreements(conversation: Conversation, merged: list[Merged]) -> bool:
    disputed = [m.state.item_id for m in merged if m.browser_text]
    if not disputed:
        return False
    reason = f"browser text differs from the upstream's for {', '.join(disputed)}"
    return _flag(conversation, reason)


def _flag(conversation: Conversation, reason: str) -> bool:
    """Flag once: the first reason is kept (later ones are usually the same dispute again).
    True when it flagged now."""
    if conversation.flagged:
        return False
    conversation.flagged = True
    conversation.flag_reason = reason[:_FLAG_REASON_LENGTH]
    conversation.save(update_fields=["flagged", "flag_reason"])
    return True


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
    conversation.record_revision += 1  # the turns changed: recordings kept elsewhere reload
    conversation.save(update_fields=["first_words", "record_revision"])


def _save_usages(
    conversation: Conversation,
    usages: Iterable[UsageState],
    stored: dict[str, ResponseUsage],
    source: str,
    pending: PendingWrites,
) -> tuple[list[ResponseUsage], list[ResponseUsage]]:
    """Store new usage (in `pending`), updating `stored`; the rows created and the rows updated.
    The browser may add a response's usage but never change one already stored (the sideband's
    may be the one stored)."""
    created, updated = [], []
    for usage in usages:
        row = stored.get(usage.response_id)
        if row is None:
            row = ResponseUsage(
                conversation=conversation,
                response_id=usage.response_id,
                status=usage.status,
                usage=dict(usage.usage),
            )
            created.append(row)
        elif source == Turn.Source.BROWSER or (row.status, row.usage) == (
            usage.status,
            usage.usage,
        ):
            continue
        else:
            row.status, row.usage = usage.status, dict(usage.usage)
            updated.append(row)
        stored[usage.response_id] = row
    pending.create(created)
    pending.change(updated)
    return created, updated


def _totals(
    conversation: Conversation,
    created: list[ResponseUsage],
    updated: list[ResponseUsage],
    stored: dict[str, ResponseUsage],
) -> UsageTotals:
    """The conversation's token totals after this batch. Its stored totals sum its stored rows
    (every change to them goes through here), so new rows are added to them; a changed row (the
    sideband's corrected usage) has every row summed again."""
    if updated:
        return usage_totals(row.usage for row in stored.values())
    added = usage_totals(row.usage for row in created)
    return UsageTotals(
        conversation.input_tokens + added.input_tokens,
        conversation.cached_input_tokens + added.cached_input_tokens,
        conversation.output_tokens + added.output_tokens,
        conversation.total_tokens + added.total_tokens,
    )


def _derived(
    conversation: Conversation, turn_count: int, opening: str, totals: UsageTotals
) -> list[str]:
    """Set the totals, turn count and opening words the lists show without reading the turns;
    returns the fields that changed (to be saved)."""
    return _changed(
        conversation,
        input_tokens=totals.input_tokens,
        cached_input_tokens=totals.cached_input_tokens,
        output_tokens=totals.output_tokens,
        total_tokens=totals.total_tokens,
        turn_count=turn_count,
        first_words=" ".join(opening.split())[:_FIRST_WORDS_LENGTH],
    )


def _changed(conversation: Conversation, **values: Any) -> list[str]:
    """Set `values` on `conversation`; the names of those that changed."""
    return [name for name, value in values.items() if _set_field(conversation, name, value)]


def _set_field(conversation: Conversation, name: str, value: Any) -> bool:
    if getattr(conversation, name) == value:
        return False
    setattr(conversation, name, value)
    return True


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
