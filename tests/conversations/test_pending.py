"""Rows left pending by a transaction's batches are written once each, as they stand."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import statements
from conversations.models import ResponseUsage, Turn
from conversations.pending import PendingWrites
from tests.conversations.test_services import start

pytestmark = pytest.mark.django_db


def test_a_row_created_and_changed_before_the_write_is_inserted_once_as_it_stands(
    owner: Any,
) -> None:
    conversation = start(owner)
    turn = Turn(
        conversation=conversation, item_id="u1", role="user", text="Hel", status="in_progress"
    )
    pending = PendingWrites()
    pending.create([turn])
    turn.text, turn.status = "Hello", "completed"
    pending.change([turn])

    with CaptureQueriesContext(connection) as queries:
        pending.flush()

    assert len(queries) == 1
    assert turn.pk is not None
    assert Turn.objects.values_list("pk", "text", "status").get() == (turn.pk, "Hello", "completed")


def test_a_row_changed_twice_is_updated_once_with_its_last_values(
    owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    updated: list[tuple[str, int]] = []
    update_rows = statements.update_rows

    def counted(rows: Any, names: Any) -> None:
        updated.append((type(rows[0]).__name__, len(rows)))
        update_rows(rows, names)

    monkeypatch.setattr(statements, "update_rows", counted)
    conversation = start(owner)
    usage = ResponseUsage(conversation=conversation, response_id="r1", status="in_progress")
    first = PendingWrites()
    first.create([usage])
    first.flush()
    pending = PendingWrites()
    usage.status = "incomplete"
    pending.change([usage])
    usage.status, usage.usage = "completed", {"total_tokens": 7}
    pending.change([usage])
    conversation.turn_count = 3
    pending.change([conversation])

    with CaptureQueriesContext(connection) as queries:
        pending.flush()

    assert len(queries) == 2  # one statement per table
    assert updated == [("ResponseUsage", 1), ("Conversation", 1)]  # each row once
    assert ResponseUsage.objects.values_list("status", "usage").get() == (
        "completed",
        {"total_tokens": 7},
    )
    conversation.refresh_from_db()
    assert conversation.turn_count == 3
    assert not pending
