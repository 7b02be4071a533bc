"""Fixtures shared by the whole suite: the fixed cast of users and a conversation factory.

The cast, for every permission test:
- `owner` signs in and owns the conversations under test;
- `staff` may use the admin and view (not change) every conversation;
- `stranger` is signed in too, but owns nothing and may see nothing of the owner's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import Client

from conversations.models import Conversation

PASSWORD = "correct horse battery staple"

# eSpeak NG's voices add noise of their own: the same sentence never comes out the same twice
# (even with espeak_ng_SetRandSeed), and PocketSphinx misses "sunny" in about 1 rendering in 13
# (measured over seeds and runs). Tests that assert on recognised words (the `engine` and
# `browser` markers) are run again, at most twice, when they fail; every run is reported
# (`-ra` lists reruns), and a real fault fails all three.
SPEECH_RERUNS = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("engine") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.flaky(reruns=SPEECH_RERUNS))


def _user(django_user_model: Any, username: str, **extra: Any) -> Any:
    return django_user_model.objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD, **extra
    )


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    return _user(django_user_model, "owner")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    user = _user(django_user_model, "staff", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="conversations", codename="view_conversation"
        )
    )
    return user


@pytest.fixture
def stranger(django_user_model: Any) -> Any:
    return _user(django_user_model, "stranger")


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner: Any) -> Client:
    return signed_in(owner)


@pytest.fixture
def staff_client(staff: Any) -> Client:
    return signed_in(staff)


@pytest.fixture
def stranger_client(stranger: Any) -> Client:
    return signed_in(stranger)


ConversationFactory = Callable[..., Conversation]


@pytest.fixture
def conversation_factory(owner: Any) -> ConversationFactory:
    """Makes conversations (the owner's unless `owner=` says otherwise) with optional turns.

    `turns` is a list of `(role, text)` or `(role, text, status)`; they get item ids `item_1`…,
    each chained to the one before, positions in that order, and the derived turn count and
    first words a recorded conversation would have.
    """

    def make(*, turns: Sequence[tuple[str, ...]] = (), **fields: Any) -> Conversation:
        fields.setdefault("owner", owner)
        fields.setdefault("transport", Conversation.Transport.WEBRTC)
        fields.setdefault("mode", Conversation.Mode.BROKERED)
        fields.setdefault("model", "gpt-realtime-2.1")
        fields.setdefault("voice", "marin")
        fields.setdefault("turn_count", len(turns))
        fields.setdefault("first_words", turns[0][1] if turns else "")
        conversation = Conversation.objects.create(**fields)
        for position, (role, text, *status) in enumerate(turns):
            conversation.turns.create(
                item_id=f"item_{position + 1}",
                previous_item_id=f"item_{position}" if position else "",
                position=position,
                role=role,
                text=text,
                status=status[0] if status else "completed",
            )
        return conversation

    return make


@pytest.fixture(scope="session", autouse=True)
def _close_the_async_orm_connection(django_db_setup: Any) -> Iterator[None]:
    """After the last test, before the test database is dropped: close the connection that
    Django's async ORM (`asave`, `aexists`, ...) opened on asgiref's one sync thread, which no
    request ends. Left open, it is a session PostgreSQL will not drop the database under
    ("being accessed by other users"). The app itself never uses the async ORM (conversations.db
    hands its work to threads that give their connections back)."""
    yield
    asyncio.run(sync_to_async(connections.close_all, thread_sensitive=True)())
