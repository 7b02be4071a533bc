"""The browser sockets' sign-in (voiceapp.socket_auth): the session cookie names the user."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session

from voiceapp.socket_auth import SessionAuthMiddleware

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def owner_cookie(owner_client) -> str:
    return owner_client.cookies["sessionid"].value


class ScopeKept:
    """An inner app that accepts the socket and keeps the scope it was given."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        await receive()
        await send({"type": "websocket.accept"})
        await receive()


async def scope_for(cookie: str | None) -> dict[str, Any]:
    inner = ScopeKept()
    headers = [(b"cookie", f"theme=dark; sessionid={cookie}".encode())] if cookie else []
    communicator = WebsocketCommunicator(SessionAuthMiddleware(inner), "/ws/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()
    return inner.scope


async def test_the_session_cookie_puts_its_user_in_the_scope(owner, owner_cookie):
    scope = await scope_for(owner_cookie)

    assert scope["user"].is_authenticated
    assert scope["user"].pk == owner.pk
    # Each socket keeps its scope while open: nothing it does not need.
    assert "session" not in scope
    assert "cookies" not in scope


@pytest.mark.parametrize("cookie", [None, "not-a-session"])
async def test_no_session_is_anonymous(cookie):
    scope = await scope_for(cookie)

    assert not scope["user"].is_authenticated


async def test_a_session_from_before_a_password_change_is_anonymous_and_flushed(
    owner, owner_cookie
):
    owner.set_password("a new password")
    await owner.asave()

    scope = await scope_for(owner_cookie)

    assert not scope["user"].is_authenticated
    assert not await Session.objects.filter(session_key=owner_cookie).aexists()


async def test_http_scopes_are_refused():
    middleware = SessionAuthMiddleware(ScopeKept())

    with pytest.raises(ValueError, match="WebSocket"):
        await middleware({"type": "http", "headers": []}, None, None)
