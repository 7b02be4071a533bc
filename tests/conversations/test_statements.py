"""The written-out INSERT, UPDATE and locking SELECT store and read exactly what the ORM would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction

from conversations import statements
from conversations.models import Conversation, ResponseUsage, Turn
from tests.conversations.test_services import start
from tests.environment import require_row_locks

pytestmark = pytest.mark.django_db

KEYS = {Turn: ("conversation", "item_id"), ResponseUsage: ("conversation", "response_id")}
USAGE = {"input_tokens": 120, "output_tokens": 80, "input_token_details": {"cached_tokens": 64}}


def stored(model: type, pk: int) -> dict[str, Any]:
    return model.objects.filter(pk=pk).values().get()


def apart_from(row: dict[str, Any], ignored: set[str]) -> dict[str, Any]:
    """A stored row without the columns two rows written the same way still differ in."""
    return {name: value for name, value in row.items() if name not in ignored}


def new_rows(conversation: Conversation) -> tuple[list[Turn], list[ResponseUsage]]:
    # Texts an array literal must escape (PostgreSQL's rows go as one array per column).
    done = datetime(2026, 11, 24, 12, 30, 15, 123456, tzinfo=UTC)
    turns = [
        Turn(conversation=conversation, item_id=f"item_{n}", role="user", position=n,
             text=f"Hello {n} ✓" + (' "quoted", {braced} \\back\\slash NULL' if n else ""),
             status="completed", completed_at=done if n else None)
        for n in range(3)
    ]  # fmt: skip
    usages = [ResponseUsage(conversation=conversation, response_id="resp_1", usage=USAGE)]
    return turns, usages


def test_inserted_rows_get_their_keys_and_read_back_as_the_orm_writes_them(owner: Any) -> None:
    conversation = start(owner)
    turns, usages = new_rows(conversation)
    by_orm_turns, by_orm_usages = new_rows(start(owner))
    Turn.objects.bulk_create(by_orm_turns)
    ResponseUsage.objects.bulk_create(by_orm_usages)

    statements.insert_rows(turns, key=KEYS[Turn])
    statements.insert_rows(usages, key=KEYS[ResponseUsage])

    assert all(row.pk is not None and not row._state.adding for row in [*turns, *usages])
    for ours, theirs in zip([*turns, *usages], [*by_orm_turns, *by_orm_usages], strict=True):
        mine, orm = stored(type(ours), ours.pk), stored(type(theirs), theirs.pk)
        ignored = {"id", "conversation_id", "created_at"}
        assert apart_from(mine, ignored) == apart_from(orm, ignored)
        assert mine["conversation_id"] == conversation.pk


def test_without_returning_the_orm_inserts_the_rows(
    owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    turns, _ = new_rows(start(owner))

    statements.insert_rows(turns, key=KEYS[Turn])

    assert sorted(Turn.objects.values_list("item_id", flat=True)) == ["item_0", "item_1", "item_2"]


def test_updated_rows_read_back_as_bulk_update_writes_them(owner: Any) -> None:
    turns, usages = new_rows(start(owner))
    by_orm_turns, by_orm_usages = new_rows(start(owner))
    for rows in (turns, usages, by_orm_turns, by_orm_usages):
        statements.insert_rows(rows, key=KEYS[type(rows[0])])
    done = datetime(2026, 11, 24, 13, 0, 0, 654321, tzinfo=UTC)
    for row in [*turns, *by_orm_turns]:
        row.text, row.status, row.completed_at = f"{row.text} — edited", "incomplete", done
    for row in [*usages, *by_orm_usages]:
        row.status, row.usage = "cancelled", {**USAGE, "output_tokens": 3}
    turns[1].role = "not to be written"

    statements.update_rows(turns, ["text", "status", "completed_at"])
    statements.update_rows(usages, ["status", "usage"])
    by_orm_turns[1].role = turns[1].role
    Turn.objects.bulk_update(by_orm_turns, ["text", "status", "completed_at"])
    ResponseUsage.objects.bulk_update(by_orm_usages, ["status", "usage"])

    for ours, theirs in zip([*turns, *usages], [*by_orm_turns, *by_orm_usages], strict=True):
        mine, orm = stored(type(ours), ours.pk), stored(type(theirs), theirs.pk)
        ignored = {"id", "conversation_id", "created_at"}
        assert apart_from(mine, ignored) == apart_from(orm, ignored)
    assert stored(Turn, turns[1].pk)["role"] == "user"
    assert stored(Turn, turns[0].pk)["text"] == "Hello 0 ✓ — edited"


def test_an_inserted_row_gets_its_key_and_reads_back_as_create_writes_it(owner: Any) -> None:
    fields = {"owner": owner, "transport": "webrtc", "mode": "brokered", "model": "gpt-realtime",
              "voice": "marin", "instructions": "Be brief ✓"}  # fmt: skip
    ours = Conversation(**fields)
    by_orm = Conversation.objects.create(**fields)

    statements.insert_row(ours)

    assert ours.pk is not None
    assert not ours._state.adding
    ignored = {"id", "started_at"}
    mine, orm = stored(Conversation, ours.pk), stored(Conversation, by_orm.pk)
    assert apart_from(mine, ignored) == apart_from(orm, ignored)
    assert mine["started_at"] == ours.started_at


def test_without_returning_a_row_is_left_to_save(
    owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (Faked: both databases here return columns; Django's own save handles those that don't.)
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    saved: list[dict[str, Any]] = []
    monkeypatch.setattr(Conversation, "save", lambda self, **kwargs: saved.append(kwargs))
    row = Conversation(owner=owner, transport="webrtc", mode="direct", model="m", voice="marin")

    statements.insert_row(row)

    assert saved == [{"force_insert": True}]


def test_rows_of_two_conversations_with_the_same_item_ids_each_get_their_own_key(
    owner: Any,
) -> None:
    (first, _), (second, _) = new_rows(start(owner)), new_rows(start(owner))
    rows = [row for pair in zip(first, second, strict=True) for row in pair]

    statements.insert_rows(rows, key=KEYS[Turn])

    for row in rows:
        assert stored(Turn, row.pk)["conversation_id"] == row.conversation_id
        assert stored(Turn, row.pk)["item_id"] == row.item_id


def test_locked_rows_read_the_named_fields_as_the_orm_does_in_key_order(owner: Any) -> None:
    first, second = start(owner), start(owner)
    Conversation.objects.filter(pk=second.pk).update(flagged=True, turn_count=7)
    names = ("flagged", "turn_count", "started_at", "first_words")

    rows = statements.locked_rows(Conversation, [second.pk, first.pk], names)

    by_orm = Conversation.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk").only(*names)
    assert [row.pk for row in rows] == [first.pk, second.pk]
    for ours, theirs in zip(rows, by_orm, strict=True):
        assert [getattr(ours, name) for name in names] == [getattr(theirs, name) for name in names]
        assert ours.get_deferred_fields() == theirs.get_deferred_fields()
    assert rows[1].flagged is True
    assert rows[1].instructions == "Be brief."  # a field not named loads when read
    assert statements.locked_rows(Conversation, [], names) == []


@pytest.mark.django_db(transaction=True)
def test_locked_rows_stay_locked_until_the_transaction_ends(owner: Any) -> None:
    require_row_locks()
    conversation = start(owner)
    with transaction.atomic():
        statements.locked_rows(Conversation, [conversation.pk], ["turn_count"])
        other = psycopg.connect(**connection.get_connection_params())
        with other, pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute(
                "SELECT id FROM conversations_conversation WHERE id = %s FOR UPDATE NOWAIT",
                [conversation.pk],
            )
