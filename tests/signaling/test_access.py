"""Who may open the signaling socket: signed-in users from an allowed origin."""

from __future__ import annotations

import pytest

from signaling import messages
from tests.signaling.client import SignalingClient

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_anonymous_sockets_are_closed_with_4401():
    client = SignalingClient(cookie=None)

    connected, _ = await client.communicator.connect()
    closing = await client.communicator.receive_output()
    await client.communicator.disconnect()  # as the browser does (see tests/live/test_live_socket)

    assert connected
    assert closing == {"type": "websocket.close", "code": messages.CLOSE_UNAUTHENTICATED}


async def test_a_stale_session_cookie_counts_as_anonymous():
    client = SignalingClient(cookie="not-a-session")

    await client.communicator.connect()
    closing = await client.communicator.receive_output()
    await client.communicator.disconnect()

    assert closing["code"] == messages.CLOSE_UNAUTHENTICATED


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1.evil.example"]
)
async def test_foreign_origins_are_refused_before_the_consumer(owner_cookie, origin):
    client = SignalingClient(owner_cookie, origin=origin)

    connected, _ = await client.communicator.connect()

    assert not connected


async def test_signed_in_users_get_hello(owner_cookie):
    client = await SignalingClient(owner_cookie).open()

    assert client.hello["type"] == "hello"
    await client.close()
