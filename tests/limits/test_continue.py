"""Continue: a new call seeded with an earlier conversation's turns and linked to it."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation
from signaling import messages
from tests.engine.client import Caller
from tests.signaling.client import SignalingClient
from tests.signaling.test_brokered_stub import end, start_brokered
from tests.signaling.test_engine_calls import upstream_is_engine  # noqa: F401

EARLIER_TURNS = [
    ("user", "My cat is called Pixel."),
    ("assistant", "Pixel is a lovely name for a cat."),
    ("user", "", "failed"),  # nothing recorded: not seeded
]
SEED = [
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "My cat is called Pixel."}],
        },
    },
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Pixel is a lovely name for a cat."}],
        },
    },
]


@database_sync_to_async
def continued_from(pk: int) -> int | None:
    return Conversation.objects.get(pk=pk).continued_from_id


@database_sync_to_async
def earlier_of(factory, **fields) -> Conversation:
    return factory(turns=EARLIER_TURNS, status="ended", **fields)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_continuing_seeds_the_new_call_and_links_it(stub, owner_cookie, conversation_factory):
    earlier = await earlier_of(conversation_factory)
    client = await SignalingClient(owner_cookie).open()

    started = await client.request(
        {"type": "call.start", "continue_from": earlier.pk}, "call.started"
    )

    assert started["seed"] == SEED
    assert await continued_from(started["conversation_id"]) == earlier.pk
    await end(client)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_call_without_continue_has_no_seed_and_no_link(stub, owner_cookie):
    client, pk = await start_brokered(stub, owner_cookie)

    assert await continued_from(pk) is None
    await end(client)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_someone_elses_conversation_cannot_be_continued(
    stub, stranger_cookie, conversation_factory
):
    earlier = await earlier_of(conversation_factory)
    client = await SignalingClient(stranger_cookie).open()

    refused = await client.request({"type": "call.start", "continue_from": earlier.pk}, "error")

    assert refused["code"] == "not_found"
    assert stub.seen == []
    assert await database_sync_to_async(Conversation.objects.count)() == 1
    await client.close()


def test_continue_is_parsed_for_voice_and_refused_for_text():
    frame = '{"type": "call.start", "continue_from": 7}'
    assert messages.parse_frame(frame, None).continue_from == 7
    with pytest.raises(messages.ProtocolError, match="continue_from"):
        messages.parse_frame('{"type": "call.start", "mode": "text", "continue_from": 7}', None)


@pytest.mark.django_db
def test_a_past_conversation_offers_continue_on_the_talk_page(owner_client, conversation_factory):
    earlier = conversation_factory(turns=EARLIER_TURNS, status="ended", ended_at=timezone.now())

    html = owner_client.get(reverse("conversations:detail", args=[earlier.pk])).content.decode()

    assert f'name="continue" value="{earlier.pk}"' in html
    assert f'action="{reverse("talk")}"' in html


@pytest.mark.engine
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_upstream_holds_the_earlier_turns_before_anyone_speaks(
    upstream_is_engine,  # noqa: F811
    owner_cookie,
    conversation_factory,
):
    earlier = await earlier_of(conversation_factory)
    client = await SignalingClient(owner_cookie).open()
    caller = Caller()
    try:
        started = await client.request(
            {"type": "call.start", "continue_from": earlier.pk}, "call.started"
        )
        answer = await client.request(
            {"type": "call.offer", "sdp": await caller.offer()}, "call.answer"
        )
        await caller.accept(answer["sdp"])
        await caller.wait_for("session.created")
        for event in started["seed"]:  # as the page does when the data channel opens
            caller.send(event)
        first = await caller.wait_for("conversation.item.done")
        second = await caller.wait_for(
            "conversation.item.done", after=caller.events.index(first) + 1
        )
        await client.request({"type": "call.end"}, "call.ended")
    finally:
        await caller.close()
        await client.close()

    held = [(e["item"]["role"], e["item"]["content"][0]["text"]) for e in (first, second)]
    assert held == [(role, text) for role, text, *_ in EARLIER_TURNS[:2]]
    assert second["previous_item_id"] == first["item"]["id"]
