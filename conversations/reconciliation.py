"""One item told by two sources: which words the record keeps (the rules of issue 4).

The browser's relay is fast but untrusted; the sideband is the upstream's own account. Each turn
is stored once; words the sideband gave are never replaced by the browser's, and what the browser
said when it differs is kept beside them (`browser_text`) so the conversation can be flagged.
Plain functions over a batch's `TurnState` and the stored row: no queries, no writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.models import Turn
from conversations.transcript import IN_PROGRESS, TurnState


@dataclass(slots=True)
class Merged:
    """A turn as it will be stored: the record's state, who gave its words, what the browser said
    when that differs."""

    state: TurnState
    source: str
    browser_text: str


def turn_state(turn: Turn) -> TurnState:
    return TurnState(
        turn.item_id, turn.role, turn.text, turn.status, turn.previous_item_id, turn.response_id
    )


def seed_state(turn: Turn, source: str) -> TurnState:
    """The state a batch continues from. A sideband batch starts browser-given words blank, so
    that what it ends with is the upstream's own account of the item (links are kept)."""
    state = turn_state(turn)
    if source == Turn.Source.SIDEBAND and turn.source == Turn.Source.BROWSER:
        state.text, state.status = "", IN_PROGRESS
    return state


def _has_words(text: str, status: str) -> bool:
    """Final (or partly final) words: text, or a status that says the item is settled."""
    return bool(text) or status != IN_PROGRESS


def reconcile(state: TurnState, row: Turn | None, source: str) -> Merged:
    """One item's stored form after a batch from `source`."""
    if row is None or row.source == source or source == Turn.Source.SERVER:
        return Merged(state, source, row.browser_text if row is not None else "")
    if source == Turn.Source.SIDEBAND:
        return _confirmed_by_sideband(state, row)
    return _relayed_over_sideband(state, row)


def _confirmed_by_sideband(state: TurnState, row: Turn) -> Merged:
    if not _has_words(state.text, state.status):
        # The sideband has not given this item's words yet: the browser's stay for now.
        state.text, state.status = row.text, row.status
        return Merged(state, row.source, row.browser_text)
    differs = bool(row.text) and row.text != state.text
    return Merged(state, Turn.Source.SIDEBAND, row.text if differs else "")


def _relayed_over_sideband(state: TurnState, row: Turn) -> Merged:
    if not _has_words(row.text, row.status):
        # Seen by the sideband but without words yet: the browser's words show meanwhile.
        given = _has_words(state.text, state.status)
        return Merged(state, Turn.Source.BROWSER if given else row.source, "")
    relayed = state.text
    state.text, state.status = row.text, row.status
    differs = bool(relayed) and relayed != row.text
    return Merged(state, row.source, relayed if differs else row.browser_text)
