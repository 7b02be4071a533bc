"""Conversations in the admin: read-only records that staff search, filter and export."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation, ResponseUsage, Turn
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")


def change_page(conversation: Conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def listed(response: Any) -> list[Conversation]:
    return list(response.context["cl"].result_list)


def export(client: Client, action: str, *conversations: Conversation) -> Any:
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [c.pk for c in conversations]},
    )


def body(response: Any) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root", "root@example.com", "x" * 20)


@pytest.fixture
def recorded(conversation_factory: Any, stranger: Any) -> dict[str, Conversation]:
    """Three conversations of two owners, one with turns and usage."""
    now = timezone.now()
    talk = conversation_factory(
        started_at=now - timedelta(days=40),
        ended_at=now - timedelta(days=40) + timedelta(seconds=75),
        status=Conversation.Status.ENDED,
        turns=[
            ("user", "Where is the lighthouse?"),
            ("assistant", "On the lighthouse hill, by the lighthouse keeper.", "interrupted"),
        ],
        total_tokens=321,
    )
    ResponseUsage.objects.create(
        conversation=talk, response_id="resp_1", status="cancelled", usage={"total_tokens": 321}
    )
    chat = conversation_factory(
        owner=stranger,
        transport=Conversation.Transport.WEBSOCKET,
        mode=Conversation.Mode.TEXT,
        status=Conversation.Status.FAILED,
        turns=[("user", "Spell banana")],
    )
    empty = conversation_factory(status=Conversation.Status.ACTIVE)
    return {"talk": talk, "chat": chat, "empty": empty}


def test_staff_see_every_owners_conversations_with_their_columns(
    staff_client: Client, recorded: dict
) -> None:
    response = staff_client.get(CHANGELIST)

    assert response.status_code == 200
    assert listed(response) == [recorded["empty"], recorded["chat"], recorded["talk"]]
    page = response.content.decode()
    assert "1 min 15 s" in page
    assert "321" in page
    assert "WebSocket (text)" in page
    assert 'class="sortable column-turn_total' in page
    assert 'class="sortable column-tokens' in page
    assert response.context["cl"].show_full_result_count is False


def test_the_changelist_needs_no_query_per_row(
    staff_client: Client, conversation_factory: Any
) -> None:
    conversation_factory()
    with CaptureQueriesContext(connection) as one:
        staff_client.get(CHANGELIST)
    for _ in range(10):
        conversation_factory(turns=[("user", "hello")])

    with CaptureQueriesContext(connection) as eleven:
        staff_client.get(CHANGELIST)

    assert len(eleven) == len(one)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lighthouse", ["talk"]),  # matches two turns, listed once
        ("BANANA", ["chat"]),
        ("stranger@example.com", ["chat"]),
        ("owner", ["empty", "talk"]),
        ("nothing like this", []),
    ],
)
def test_search_by_transcript_text_and_owner(
    staff_client: Client, recorded: dict, query: str, expected: list[str]
) -> None:
    response = staff_client.get(CHANGELIST, {"q": query})

    assert listed(response) == [recorded[name] for name in expected]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status__exact": "failed"}, ["chat"]),
        ({"transport__exact": "webrtc"}, ["empty", "talk"]),
        ({"mode__exact": "text"}, ["chat"]),
    ],
)
def test_filters(staff_client: Client, recorded: dict, filters: dict, expected: list) -> None:
    response = staff_client.get(CHANGELIST, filters)

    assert listed(response) == [recorded[name] for name in expected]


def test_filter_by_owner_and_by_date(staff_client: Client, recorded: dict, stranger: Any) -> None:
    by_owner = staff_client.get(CHANGELIST, {"owner__id__exact": stranger.pk})
    started = recorded["talk"].started_at
    by_month = staff_client.get(
        CHANGELIST, {"started_at__year": started.year, "started_at__month": started.month}
    )

    assert listed(by_owner) == [recorded["chat"]]
    assert recorded["talk"] in listed(by_month)
    assert recorded["empty"] not in listed(by_month)


def test_the_change_page_shows_the_transcript_read_only(
    staff_client: Client, recorded: dict
) -> None:
    response = staff_client.get(change_page(recorded["talk"]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Where is the lighthouse?" in page
    assert "On the lighthouse hill" in page
    assert "resp_1" in page
    assert 'name="_save"' not in page
    assert "<textarea" not in page
    assert 'name="turns-0-text"' not in page


def test_nobody_can_add_or_edit_a_conversation(
    staff_client: Client, superuser: Any, recorded: dict
) -> None:
    talk = recorded["talk"]
    for client in (staff_client, signed_in(superuser)):
        assert client.get(reverse("admin:conversations_conversation_add")).status_code == 403
        assert client.post(change_page(talk), {"status": "ended"}).status_code == 403

    talk.refresh_from_db()
    assert (talk.status, Conversation.objects.count(), Turn.objects.count()) == ("ended", 3, 3)


def test_only_superusers_delete_conversations(
    staff_client: Client, superuser: Any, recorded: dict
) -> None:
    delete = reverse("admin:conversations_conversation_delete", args=[recorded["talk"].pk])

    refused = staff_client.post(delete, {"post": "yes"})
    done = signed_in(superuser).post(delete, {"post": "yes"})

    assert (refused.status_code, done.status_code) == (403, 302)
    assert set(Conversation.objects.all()) == {recorded["chat"], recorded["empty"]}
    assert Turn.objects.count() == 1
    assert not ResponseUsage.objects.exists()


def test_export_json_downloads_the_selected_conversations_whole(
    staff_client: Client, recorded: dict
) -> None:
    response = export(staff_client, "export_json", recorded["talk"], recorded["chat"])

    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="conversations-')
    records = json.loads(body(response))
    assert [r["id"] for r in records] == [recorded["chat"].pk, recorded["talk"].pk]
    talk = records[1]
    assert (talk["owner"], talk["status"], talk["total_tokens"]) == ("owner", "ended", 321)
    assert [(t["position"], t["role"], t["status"]) for t in talk["turns"]] == [
        (0, "user", "completed"),
        (1, "assistant", "interrupted"),
    ]
    assert talk["responses"] == [
        {"response_id": "resp_1", "status": "cancelled", "usage": {"total_tokens": 321}}
    ]


def test_export_text_downloads_readable_transcripts(staff_client: Client, recorded: dict) -> None:
    response = export(staff_client, "export_text", recorded["talk"])

    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = body(response)
    assert "You: Where is the lighthouse?\n" in text
    assert "Assistant [interrupted]: On the lighthouse hill" in text
    assert "Spell banana" not in text


@pytest.mark.parametrize("user", ["owner", "stranger"])
def test_the_admin_is_refused_to_non_staff(
    request: pytest.FixtureRequest, recorded: dict, user: str
) -> None:
    client = signed_in(request.getfixturevalue(user))

    for url in (CHANGELIST, change_page(recorded["talk"])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert export(client, "export_json", recorded["talk"]).status_code == 302


def test_staff_without_the_view_permission_see_nothing(
    django_user_model: Any, recorded: dict
) -> None:
    clerk = django_user_model.objects.create_user("clerk", password="x" * 20, is_staff=True)

    response = signed_in(clerk).get(CHANGELIST)

    assert response.status_code == 403
