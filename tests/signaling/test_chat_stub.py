"""Text sessions whose upstream refuses them: the user is told, the conversation is failed."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation
from tests.signaling.client import SignalingClient
from tests.signaling.stub_upstream import Canned

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("canned", "code"),
    [
        (Canned(401, {}, b"{}"), "upstream_unauthorized"),
        (Canned(503, {}, b""), "upstream_unavailable"),
    ],
)
async def test_a_refused_text_session_fails_the_conversation(
    stub, owner_cookie, settings, canned, code
):
    stub.answer("/realtime", canned)
    client = await SignalingClient(owner_cookie).open()

    error = await client.request({"type": "call.start", "mode": "text"}, "error")
    after = await client.request({"type": "text.send", "text": "hello?"}, "error")

    assert (error["code"], error["fatal"]) == (code, True)
    assert after["code"] == "no_chat"
    failed = await database_sync_to_async(Conversation.objects.get)()
    assert (failed.transport, failed.mode, failed.status) == ("websocket", "text", "failed")
    assert stub.seen[0].path == f"/v1/realtime?model={settings.REALTIME_MODEL}"
    assert stub.seen[0].headers["authorization"] == "Bearer sk-stub-server-key"
    await client.close()
