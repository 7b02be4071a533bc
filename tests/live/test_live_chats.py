"""Text chats on the Live page: shown with their transcript as it is stored, ended by staff (the
user's upstream socket closed, the user's page told, the staff member recorded), and swept like
calls when nobody holds them. Against the local engine as a real server (a text session is a
server-side WebSocket)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations.models import Conversation
from live.sweeper import STALE, sweep
from tests.engine.conftest import Engine, as_upstream
from tests.live.client import LiveClient
from tests.live.test_sweeper import LONG_AGO, STALE_AFTER, state
from tests.signaling.client import SignalingClient, eventually

pytestmark = [pytest.mark.engine, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

QUESTION = "Tell me about the weather in London."


@pytest.fixture
def upstream_is_engine(settings, engine: Engine) -> Engine:
    return as_upstream(settings, engine)


async def engine_sessions(engine: Engine) -> int:
    async with httpx.AsyncClient() as client:
        stats = await client.get(
            f"{engine.base_url}/realtime/engine_stats", headers=engine.server_auth()
        )
    return stats.json()["sessions"]


async def shown_turns(live: LiveClient, conversation_id: int) -> dict[str, str]:
    """What the Live page shows of the chat once both sides have words."""
    shown: dict[str, dict[str, Any]] = {}
    while {t["role"] for t in shown.values() if t["text"]} != {"user", "assistant"}:
        message = await live.expect("live.turns", wait=30)
        assert message["conversation_id"] == conversation_id
        shown |= {t["item_id"]: t for t in message["turns"]}
    return {t["role"]: t["text"] for t in shown.values() if t["text"]}


async def until_message(user: SignalingClient, message_type: str) -> dict[str, Any]:
    """The user's next message of this type (streamed deltas and transcript updates skipped)."""
    while (message := await user.receive(wait=30))["type"] != message_type:
        pass
    return message


async def test_a_chat_is_shown_live_with_its_transcript_and_staff_end_it(
    upstream_is_engine, owner_cookie, staff_cookie
):
    live = LiveClient(staff_cookie)
    assert (await live.open())["calls"] == []
    user = await SignalingClient(owner_cookie).open()
    started = await user.request({"type": "call.start", "mode": "text"}, "call.started")
    pk = started["conversation_id"]
    connecting = (await live.expect("live.call"))["call"]
    active = (await live.expect("live.call"))["call"]

    await user.send({"type": "text.send", "text": QUESTION})
    shown = await shown_turns(live, pk)
    sessions_before = await engine_sessions(upstream_is_engine)
    await live.send({"type": "call.end", "conversation_id": pk})
    told = await until_message(user, "call.ended")
    ended = (await live.expect("live.call"))["call"]
    after = await user.request({"type": "text.send", "text": "Still there?"}, "error")
    sessions_after = await eventually(lambda: engine_sessions(upstream_is_engine), lambda n: n == 0)

    assert (connecting["mode"], connecting["transport"], connecting["status"]) == (
        "text",
        "websocket",
        "connecting",
    )
    assert active["status"] == "active"
    assert shown["user"] == QUESTION
    assert "london" in shown["assistant"].lower()
    assert told == {"type": "call.ended", "conversation_id": pk, "reason": "ended_by_staff"}
    assert (ended["status"], ended["end_reason"]) == ("ended", "ended by staff: staff")
    assert after["code"] == "no_chat"
    assert (sessions_before, sessions_after) == (1, 0)
    record = await database_sync_to_async(Conversation.objects.get)(pk=pk)
    assert (record.status, record.end_reason) == ("ended", "ended by staff: staff")
    await user.close()
    await live.close()


async def test_a_held_chat_is_not_swept_and_an_abandoned_one_is(
    upstream_is_engine, owner_cookie, conversation_factory
):
    user = await SignalingClient(owner_cookie).open()
    started = await user.request({"type": "call.start", "mode": "text"}, "call.started")
    held = started["conversation_id"]
    # Both open long ago; only the first has a socket (its process alive) to answer.
    update = Conversation.objects.filter(pk=held).update
    await database_sync_to_async(update)(started_at=timezone.now() - LONG_AGO)
    orphan = await database_sync_to_async(conversation_factory)(
        status="active", transport="websocket", mode="text", started_at=timezone.now() - LONG_AGO
    )

    ended = await sweep(stale_after=STALE_AFTER)

    assert ended == [orphan.pk]
    assert await state(orphan.pk) == ("ended", STALE)
    assert await state(held) == ("active", "")
    await user.close()
