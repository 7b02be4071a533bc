"""The rows a transaction's batches changed, written together just before its commit.

A group of relayed batches (`signaling.writer`) used to cost a few statements per batch: its new
turns, its changed turns, its usage rows, its conversation's totals and revision. With one event
per frame that was about 1.6 statements per event, each through Django's cursor wrappers (on
PostgreSQL, a round trip each): a third of the process's CPU flat out (bench.ingestion, py-spy).
Gathered here, a group costs one INSERT per table and one UPDATE per table, run once per row
(`executemany`, which psycopg pipelines), whatever the number of batches.

Rows are model instances that the batches keep changing in place, so what is written is how
they stand at the end: a row created and changed again before the write is inserted once, with
its last values. Whatever reads the tables inside the transaction must `flush()` first
(`services._reload` does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import Model

from conversations import statements
from conversations.models import Conversation, ResponseUsage, Turn

# The columns a batch may change, by table. Every changed row is written whole (these columns),
# so that a group's rows share one statement: a column written unchanged costs less than a
# statement per set of columns.
TURN_COLUMNS = (
    "role",
    "text",
    "status",
    "previous_item_id",
    "response_id",
    "position",
    "source",
    "browser_text",
    "completed_at",
)
USAGE_COLUMNS = ("status", "usage")
CONVERSATION_COLUMNS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "total_tokens",
    "turn_count",
    "first_words",
    "upstream_session_id",
    "record_revision",
)
# The fields that tell apart a conversation's new rows, to match the keys an INSERT returns.
_KEYS: dict[type[Model], tuple[str, ...]] = {
    Turn: ("conversation", "item_id"),
    ResponseUsage: ("conversation", "response_id"),
}
_COLUMNS: dict[type[Model], Sequence[str]] = {
    Turn: TURN_COLUMNS,
    ResponseUsage: USAGE_COLUMNS,
    Conversation: CONVERSATION_COLUMNS,
}


class PendingWrites:
    """New and changed rows of turns, usage and conversations, not yet written."""

    def __init__(self) -> None:
        self._created: dict[type[Model], list[Model]] = {Turn: [], ResponseUsage: []}
        # By identity: a row changed by two batches is written once. Ordered, so rows are
        # updated (and locked) in the order they changed.
        self._changed: dict[type[Model], dict[int, Model]] = {model: {} for model in _COLUMNS}

    def create(self, rows: Iterable[Model]) -> None:
        """Insert `rows` (new turns or usage rows), as they stand when written."""
        for row in rows:
            self._created[type(row)].append(row)

    def change(self, rows: Iterable[Model]) -> None:
        """Write `rows`' columns (`TURN_COLUMNS`, `USAGE_COLUMNS`, `CONVERSATION_COLUMNS`)."""
        for row in rows:
            if row._state.adding:
                continue  # still to be inserted: the insert writes its values as they stand
            self._changed[type(row)][id(row)] = row

    def __bool__(self) -> bool:
        return any(self._created.values()) or any(self._changed.values())

    def flush(self) -> None:
        """Write everything pending (inside the caller's transaction); nothing is left pending.
        New rows get their primary keys."""
        for model, rows in self._created.items():
            if rows:
                statements.insert_rows(rows, key=_KEYS[model])
                rows.clear()
        for model, changed in self._changed.items():
            if changed:
                statements.update_rows(list(changed.values()), _COLUMNS[model])
                changed.clear()
