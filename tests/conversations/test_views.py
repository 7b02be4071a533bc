"""History pages: a user reads their own conversations, and only theirs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation

pytestmark = pytest.mark.django_db

LIST = reverse("conversations:list")


def detail(conversation: Conversation) -> str:
    return reverse("conversations:detail", args=[conversation.pk])


def queries_for(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in captured]


def test_the_list_shows_my_conversations_newest_first(
    owner_client: Client, conversation_factory: Any, stranger: Any
) -> None:
    now = timezone.now()
    older = conversation_factory(
        started_at=now - timedelta(days=2),
        ended_at=now - timedelta(days=2) + timedelta(minutes=4, seconds=5),
        status=Conversation.Status.ENDED,
        turns=[("user", "What is the capital of France?"), ("assistant", "Paris.")],
    )
    newer = conversation_factory(started_at=now - timedelta(hours=1), status="active")
    conversation_factory(owner=stranger, first_words="The stranger's secret")

    response = owner_client.get(LIST)

    assert response.status_code == 200
    assert list(response.context["conversations"]) == [newer, older]
    assert (response.context["has_previous"], response.context["has_next"]) == (False, False)
    page = response.content.decode()
    assert "What is the capital of France?" in page
    assert "4 min 05 s" in page
    assert page.count('data-testid="conversation-row"') == 2
    assert "The stranger&#x27;s secret" not in page


def test_an_empty_history_invites_to_talk(
    owner_client: Client, conversation_factory: Any, stranger: Any
) -> None:
    conversation_factory(owner=stranger)

    response = owner_client.get(LIST)

    assert list(response.context["conversations"]) == []
    assert b'data-testid="empty-history"' in response.content
    assert b'href="/"' in response.content
    assert b"conversation-row" not in response.content


def test_the_list_pages_without_counting_and_without_a_query_per_row(
    owner_client: Client, conversation_factory: Any
) -> None:
    conversation_factory(turns=[("user", "hi")])
    one_row = queries_for(owner_client, LIST)
    for _ in range(20):
        conversation_factory(turns=[("user", "hi")])

    first = owner_client.get(LIST)
    second = owner_client.get(LIST + "?page=2")

    twenty_rows = queries_for(owner_client, LIST)
    assert len(twenty_rows) == len(one_row)
    assert not [sql for sql in twenty_rows if "COUNT(" in sql.upper()]
    assert (len(first.context["conversations"]), first.context["has_next"]) == (20, True)
    assert (len(second.context["conversations"]), second.context["has_next"]) == (1, False)
    assert second.context["has_previous"] is True
    assert b'rel="next"' in first.content
    assert b'rel="prev"' in second.content


@pytest.mark.parametrize("page", ["0", "-1", "abc", "3"])
def test_a_page_that_does_not_exist_is_404(
    owner_client: Client, conversation_factory: Any, page: str
) -> None:
    conversation_factory()

    assert owner_client.get(LIST, {"page": page}).status_code == 404


def test_a_conversation_reads_as_a_dialogue_in_order(
    owner_client: Client, conversation_factory: Any
) -> None:
    conversation = conversation_factory(
        turns=[
            ("user", "Tell me a story"),
            ("assistant", "Once upon a time", "interrupted"),
            ("user", "Shorter please"),
            ("assistant", "The end."),
        ],
        input_tokens=1200,
        cached_input_tokens=800,
        output_tokens=90,
        total_tokens=1290,
        voice="cedar",
        mode=Conversation.Mode.DIRECT,
    )
    # Stored out of order on purpose: the page must follow positions, not ids.
    conversation.turns.filter(item_id="item_1").update(position=10)
    conversation.turns.filter(item_id="item_4").update(position=0)

    response = owner_client.get(detail(conversation))

    assert response.status_code == 200
    turns = [(t.role, t.text, t.status) for t in response.context["turns"]]
    assert turns == [
        ("assistant", "The end.", "completed"),
        ("assistant", "Once upon a time", "interrupted"),
        ("user", "Shorter please", "completed"),
        ("user", "Tell me a story", "completed"),
    ]
    page = response.content.decode()
    assert page.count('data-testid="turn"') == 4
    assert page.count('class="turn-flag">interrupted<') == 1
    assert "1290 total: 1200 in (800 cached), 90 out" in page
    assert "gpt-realtime-2.1" in page
    assert "cedar" in page
    assert "direct with an ephemeral key" in page


def test_someone_elses_conversation_is_404(
    stranger_client: Client, staff_client: Client, conversation_factory: Any
) -> None:
    conversation = conversation_factory(turns=[("user", "private words")])

    for client in (stranger_client, staff_client):
        response = client.get(detail(conversation))
        assert response.status_code == 404
        assert b"private words" not in response.content


def test_a_conversation_that_does_not_exist_is_404(owner_client: Client) -> None:
    assert owner_client.get(reverse("conversations:detail", args=[999])).status_code == 404


def test_history_pages_refuse_writes(owner_client: Client, conversation_factory: Any) -> None:
    conversation = conversation_factory()

    assert owner_client.post(LIST).status_code == 405
    assert owner_client.post(detail(conversation)).status_code == 405
    assert Conversation.objects.count() == 1
