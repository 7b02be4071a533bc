"""Export functions: JSON and text built from prefetched conversations, without queries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conversations import exports
from conversations.models import Conversation

pytestmark = pytest.mark.django_db


def prefetched(*conversations: Conversation) -> list[Conversation]:
    return list(Conversation.objects.filter(pk__in=[c.pk for c in conversations]).with_record())


def test_an_empty_selection_is_an_empty_json_array() -> None:
    assert json.loads("".join(exports.iter_json([]))) == []


def test_json_and_text_are_built_without_querying(
    conversation_factory: Any, django_assert_num_queries: Any
) -> None:
    first = conversation_factory(turns=[("user", "Bonjour"), ("assistant", "Salut !")])
    second = conversation_factory(turns=[("user", "Hej")])
    selection = prefetched(first, second)

    with django_assert_num_queries(0):
        records = json.loads("".join(exports.iter_json(selection)))
        text = "".join(exports.iter_text(selection))

    assert {r["id"] for r in records} == {first.pk, second.pk}
    assert all(r["started_at"].endswith("+00:00") for r in records)
    assert "You: Bonjour\nAssistant: Salut !\n" in text
    assert text.count("-" * 72) == 1


def test_a_transcript_marks_turns_that_did_not_complete(conversation_factory: Any) -> None:
    conversation = conversation_factory(
        turns=[("user", "", "failed"), ("assistant", "Sorry, I did not", "interrupted")]
    )

    text = exports.transcript_text(prefetched(conversation)[0])

    assert text.splitlines()[3:] == ["You [failed]: ", "Assistant [interrupted]: Sorry, I did not"]
