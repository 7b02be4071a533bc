"""The Live socket in one process: who may open it, the snapshot, live updates, ending a call."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation
from live import messages
from tests.live.client import LiveClient
from tests.signaling.test_brokered_stub import one_exchange, start_brokered

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def stored(pk: int) -> Conversation:
    return Conversation.objects.get(pk=pk)


async def refusal(cookie: str | None) -> dict:
    client = LiveClient(cookie)
    connected, _ = await client.communicator.connect()
    assert connected
    closing = await client.communicator.receive_output()
    # Closed as the browser does, so that the consumer ends here: left running, it was cancelled
    # with the test's event loop, once hanging CI there (in the Redis layer's receive).
    await client.close()
    return closing


async def test_signed_in_users_who_are_not_staff_are_refused_with_4403(stranger_cookie):
    closing = await refusal(stranger_cookie)

    assert closing == {"type": "websocket.close", "code": messages.CLOSE_FORBIDDEN}


async def test_anonymous_sockets_are_refused_with_4401():
    closing = await refusal(None)

    assert closing == {"type": "websocket.close", "code": messages.CLOSE_UNAUTHENTICATED}


async def test_the_snapshot_lists_open_calls_and_chats_with_their_turns(
    staff_cookie, conversation_factory
):
    call = await database_sync_to_async(conversation_factory)(
        status="active", turns=[("user", "hello")]
    )
    await database_sync_to_async(conversation_factory)(status="ended")
    chat = await database_sync_to_async(conversation_factory)(
        status="active", transport="websocket", mode="text"
    )
    client = LiveClient(staff_cookie)

    snapshot = await client.open()

    assert [c["conversation_id"] for c in snapshot["calls"]] == [call.pk, chat.pk]
    assert [c["transport"] for c in snapshot["calls"]] == ["webrtc", "websocket"]
    assert snapshot["calls"][0]["owner"] == "owner"
    assert [t["text"] for t in snapshot["calls"][0]["turns"]] == ["hello"]
    assert await client.nothing_more()
    await client.close()


async def test_a_call_and_its_turns_appear_live_and_staff_can_end_it(
    stub, owner_cookie, staff_cookie
):
    live = LiveClient(staff_cookie)
    assert (await live.open())["calls"] == []
    user, pk = await start_brokered(stub, owner_cookie)
    assert (await live.expect("live.call"))["call"]["status"] == "connecting"
    assert (await live.expect("live.call"))["call"]["status"] == "active"

    await user.request({"type": "events.relay", "seq": 0, "events": one_exchange()}, "events.ack")
    shown = await live.expect("live.turns")
    await live.send({"type": "call.end", "conversation_id": pk})
    told = await user.expect("call.ended")
    ended = await live.expect("live.call")

    assert [t["text"] for t in shown["turns"]] == ["hello there", "hi, how can I help?"]
    assert told == {"type": "call.ended", "conversation_id": pk, "reason": "ended_by_staff"}
    assert ended["call"]["status"] == "ended"
    record = await stored(pk)
    assert (record.status, record.end_reason) == ("ended", "ended by staff: staff")
    assert stub.seen[-1].path == "/v1/realtime/calls/rtc_stub1/hangup"
    assert await user.nothing_more()
    assert await live.nothing_more()
    await user.close()
    await live.close()


async def test_ending_a_call_that_is_not_open_is_an_error(staff_cookie, conversation_factory):
    ended = await database_sync_to_async(conversation_factory)(status="ended")
    live = LiveClient(staff_cookie)
    await live.open()

    await live.send({"type": "call.end", "conversation_id": ended.pk})
    error = await live.expect("error")

    assert error["code"] == "not_found"
    assert (await stored(ended.pk)).end_reason == ""
    await live.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ('{"type": "call.start"}', "unknown_type"),
        ('{"type": "call.end", "conversation_id": "1"}', "invalid_field"),
        ('{"type": "call.end", "conversation_id": 1, "pad": "' + "x" * 5000 + '"}', "too_large"),
    ],
)
async def test_bad_input_gets_a_coded_error(staff_cookie, frame, code):
    live = LiveClient(staff_cookie)
    await live.open()

    await live.communicator.send_to(text_data=frame)

    assert (await live.expect("error"))["code"] == code
    assert await live.nothing_more()
    await live.close()
