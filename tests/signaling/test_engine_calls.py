"""The consumer against the local engine running as a real server: a spoken turn brokered by the
server, a direct call with an ephemeral key, and a text chat over a server-side session.

The caller is the engine tests' aiortc client (it behaves as the browser does); the sentence is
spoken by eSpeak NG. PocketSphinx reliably gets "sunny" and "london" of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async

from conversations.models import Conversation
from signaling import messages
from tests.engine.client import Caller
from tests.engine.conftest import Engine, as_upstream, spoken
from tests.signaling.client import SignalingClient
from upstream import realtime

pytestmark = [pytest.mark.engine, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SENTENCE = "The weather is nice and sunny in London."


@pytest_asyncio.fixture
async def upstream_is_engine(settings, engine: Engine) -> AsyncIterator[Engine]:
    yield as_upstream(settings, engine)
    await realtime.close_client()  # in the test's loop, which ends with the test


@database_sync_to_async
def recorded(pk: int) -> tuple[Conversation, list[tuple[str, str, str]]]:
    conversation = Conversation.objects.get(pk=pk)
    turns = conversation.turns.order_by("position").values_list("role", "text", "source")
    return conversation, list(turns)


async def speak_and_relay(caller: Caller, client: SignalingClient) -> list[dict]:
    """Say the sentence, wait for the whole reply, relay the record-making events once."""
    await caller.wait_for("session.created")
    caller.microphone.say(spoken(SENTENCE))
    await caller.wait_for("response.done", 60)
    relayed = [e for e in caller.events if e["type"] in messages.RELAYED_EVENT_TYPES]
    ack = await client.request({"type": "events.relay", "seq": 0, "events": relayed}, "events.ack")
    return ack["turns"]


def assert_one_spoken_exchange(turns: list[tuple[str, str, str]]) -> None:
    assert [role for role, _, _ in turns] == ["user", "assistant"]
    user_text, assistant_text = turns[0][1].lower(), turns[1][1].lower()
    assert "sunny" in user_text
    assert "london" in user_text
    assert "london" in assistant_text
    assert {source for _, _, source in turns} == {"browser"}


async def test_a_brokered_call_records_the_spoken_exchange(upstream_is_engine, owner_cookie):
    client = await SignalingClient(owner_cookie).open()
    caller = Caller()
    try:
        started = await client.request({"type": "call.start"}, "call.started")
        answer = await client.request(
            {"type": "call.offer", "sdp": await caller.offer()}, "call.answer"
        )
        await caller.accept(answer["sdp"])
        acked_turns = await speak_and_relay(caller, client)
        await client.request({"type": "call.end"}, "call.ended")
    finally:
        await caller.close()
        await client.close()

    conversation, turns = await recorded(started["conversation_id"])
    assert [t["position"] for t in acked_turns] == [0, 1]
    assert_one_spoken_exchange(turns)
    assert conversation.status == "ended"
    assert conversation.upstream_call_id.startswith("rtc_")
    assert conversation.total_tokens > 0


async def test_a_direct_call_uses_a_short_lived_key(upstream_is_engine, owner_cookie):
    engine = upstream_is_engine
    client = await SignalingClient(owner_cookie).open()
    caller = Caller()
    try:
        started = await client.request({"type": "call.start", "mode": "direct"}, "call.started")
        key = await client.expect("call.key")
        async with engine.http() as http:
            response = await http.post(
                key["calls_url"],
                content=await caller.offer(),
                headers={
                    "Authorization": f"Bearer {key['key']}",
                    "Content-Type": "application/sdp",
                },
            )
        await caller.accept(response.text)
        call_id = response.headers["location"].rsplit("/", 1)[-1]
        await client.send({"type": "call.connected", "call_id": call_id})
        await speak_and_relay(caller, client)
        await client.request({"type": "call.end"}, "call.ended")
    finally:
        await caller.close()
        await client.close()

    conversation, turns = await recorded(started["conversation_id"])
    assert key["key"].startswith("ek_")
    assert key["key"] != engine.key
    assert_one_spoken_exchange(turns)
    assert (conversation.mode, conversation.upstream_call_id, conversation.status) == (
        "direct",
        call_id,
        "ended",
    )


async def test_a_text_chat_streams_the_reply_and_records_both_turns(
    upstream_is_engine, owner_cookie
):
    client = await SignalingClient(owner_cookie).open()
    started = await client.request({"type": "call.start", "mode": "text"}, "call.started")
    await client.send({"type": "text.send", "text": "Tell me about the weather in London."})
    deltas, final_turns = [], []
    while not any(t["role"] == "assistant" and t["text"] for t in final_turns):
        message = await client.receive(wait=30)
        if message["type"] == "text.delta":
            deltas.append(message["delta"])
        elif message["type"] == "transcript.update":
            final_turns += message["turns"]
    await client.request({"type": "call.end"}, "call.ended")
    await client.close()

    conversation, turns = await recorded(started["conversation_id"])
    assert turns[0] == ("user", "Tell me about the weather in London.", "server")
    assert turns[1][0] == "assistant"
    assert turns[1][1] == "".join(deltas)
    assert "london" in turns[1][1].lower()
    assert (conversation.transport, conversation.mode, conversation.status) == (
        "websocket",
        "text",
        "ended",
    )
