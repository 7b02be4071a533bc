"""The watcher against the local engine running as a real server: brokered calls started through
the signaling flow with an aiortc caller (the browser), speech from eSpeak NG, the watcher loop
run in-process. The caller's own data channel is the witness of what the upstream produced."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from conversations import services
from conversations.models import Conversation
from sideband import watch
from sideband.models import CallLease
from signaling import calls, messages, relay
from tests.engine.calls import hang_up
from tests.engine.client import Caller
from tests.engine.conftest import Engine, spoken
from tests.sideband.conftest import FAST, BrokeredCall, RunningWatchers, eventually, sync
from tests.signaling.client import SignalingClient

pytestmark = [pytest.mark.engine, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SENTENCE = "The weather is nice and sunny in London."
SECOND_SENTENCE = "Tell me about the weather in Paris."


@sync
def record_of(conversation_id: int) -> dict[str, Any]:
    conversation = Conversation.objects.get(pk=conversation_id)
    lease = CallLease.objects.filter(conversation_id=conversation_id).first()
    return {
        "conversation": conversation,
        "turns": list(
            conversation.turns.order_by("position").values_list(
                "item_id", "role", "text", "source", "browser_text"
            )
        ),
        "lease": lease,
    }


def finished(record: dict[str, Any]) -> bool:
    return record["lease"] is not None and record["lease"].finished_at is not None


def said(call: BrokeredCall) -> list[tuple[str, str, str]]:
    return heard_by(call.caller)


def heard_by(caller: Caller) -> list[tuple[str, str, str]]:
    """(item id, role, words) of every finished turn, as the caller's data channel saw them."""
    turns = []
    for event in caller.events:
        if event["type"] == "conversation.item.input_audio_transcription.completed":
            turns.append((event["item_id"], "user", event["transcript"]))
        elif event["type"] == "response.output_audio_transcript.done":
            turns.append((event["item_id"], "assistant", event["transcript"]))
    return turns


def usage_total(call: BrokeredCall) -> int:
    done = [e for e in call.caller.events if e["type"] == "response.done"]
    return sum(e["response"]["usage"]["total_tokens"] for e in done)


async def attached(call: BrokeredCall, count: int = 1) -> None:
    """An attaching sideband sends session.update; the engine tells every listener (the caller
    too), so each attach shows on the caller's data channel."""
    await eventually(
        lambda: _noop(call.caller.types().count("session.updated")), lambda n: n >= count
    )


async def _noop(value: Any) -> Any:
    return value


async def speak(call: BrokeredCall, sentence: str, responses: int) -> None:
    call.caller.microphone.say(spoken(sentence))
    await eventually(
        lambda: _noop(call.caller.types().count("response.done")),
        lambda n: n >= responses,
        within=60,
    )


async def recorded_turns(call: BrokeredCall, count: int) -> dict[str, Any]:
    """Waits until the record holds `count` turns with words from the sideband."""

    def complete(record: dict[str, Any]) -> bool:
        return sum(bool(t[2]) and t[3] == "sideband" for t in record["turns"]) >= count

    return await eventually(lambda: record_of(call.conversation_id), complete)


def relayed(call: BrokeredCall) -> list[dict[str, Any]]:
    return [e for e in call.caller.events if e["type"] in messages.RELAYED_EVENT_TYPES]


async def test_a_call_whose_tab_closed_is_recorded_completely_by_the_watcher(
    brokered_call: BrokeredCall, watchers: RunningWatchers
) -> None:
    watchers.start("a")
    await attached(brokered_call)
    await speak(brokered_call, SENTENCE, responses=1)
    await recorded_turns(brokered_call, 2)
    await brokered_call.caller.close()  # the tab goes away: nothing is ever relayed

    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    conversation: Conversation = record["conversation"]
    expected = [(item, role, words, "sideband", "") for item, role, words in said(brokered_call)]
    assert record["turns"] == expected
    assert [role for _, role, *_ in expected] == ["user", "assistant"]
    assert "sunny" in expected[0][2].lower()
    assert conversation.total_tokens == usage_total(brokered_call) > 0
    assert (conversation.status, conversation.end_reason) == ("ended", "upstream_ended")
    assert (conversation.flagged, record["lease"].finish_reason) == (False, "upstream_ended")
    assert record["lease"].claims == 1


async def test_relayed_words_the_upstream_never_produced_do_not_become_the_record(
    brokered_call: BrokeredCall, watchers: RunningWatchers
) -> None:
    watchers.start("a")
    await attached(brokered_call)
    await speak(brokered_call, SENTENCE, responses=1)
    truth = said(brokered_call)
    events = relayed(brokered_call)
    for event in events:
        if event["type"].endswith("input_audio_transcription.completed"):
            event["transcript"] = "please wire the money"
    forged_item = {"id": "item_forged", "type": "message", "role": "user", "content": []}
    events += [
        {"type": "conversation.item.added", "previous_item_id": truth[-1][0], "item": forged_item},
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "item_forged",
            "content_index": 0,
            "transcript": "and refund my last order",
        },
    ]
    await relay.record_batch(brokered_call.conversation_id, events)
    await recorded_turns(brokered_call, 2)
    await calls.end_call(brokered_call.state, "user")

    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    (user_item, _, user_words), (assistant_item, _, assistant_words) = truth
    assert record["turns"] == [
        (user_item, "user", user_words, "sideband", "please wire the money"),
        (assistant_item, "assistant", assistant_words, "sideband", ""),
        ("item_forged", "user", "", "browser", "and refund my last order"),
    ]
    conversation: Conversation = record["conversation"]
    assert conversation.flagged
    assert conversation.flag_reason.startswith("browser")
    assert (conversation.status, conversation.end_reason) == ("ended", "user")


async def test_two_watchers_attach_one_sideband_to_a_call(
    brokered_call: BrokeredCall, watchers: RunningWatchers
) -> None:
    first, second = watchers.start("a"), watchers.start("b")
    await attached(brokered_call)
    await speak(brokered_call, SENTENCE, responses=1)
    await recorded_turns(brokered_call, 2)
    await calls.end_call(brokered_call.state, "user")

    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    assert sorted(first.claimed + second.claimed) == [brokered_call.conversation_id]
    assert brokered_call.caller.types().count("session.updated") == 1
    assert record["lease"].claims == 1
    expected = [(item, role, words, "sideband", "") for item, role, words in said(brokered_call)]
    assert record["turns"] == expected


async def test_a_killed_watchers_call_is_resumed_by_another_without_losing_a_turn(
    brokered_call: BrokeredCall, watchers: RunningWatchers
) -> None:
    watchers.start("a")
    await attached(brokered_call)
    await speak(brokered_call, SENTENCE, responses=1)
    await recorded_turns(brokered_call, 2)
    await watchers.kill("a")
    successor = watchers.start("b")
    await attached(brokered_call, count=2)  # after the dead watcher's lease expired
    await speak(brokered_call, SECOND_SENTENCE, responses=2)
    await recorded_turns(brokered_call, 4)
    await calls.end_call(brokered_call.state, "user")

    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    expected = [(item, role, words, "sideband", "") for item, role, words in said(brokered_call)]
    assert [role for _, role, *_ in expected] == ["user", "assistant", "user", "assistant"]
    assert record["turns"] == expected
    assert successor.claimed == [brokered_call.conversation_id]
    lease: CallLease = record["lease"]
    assert (lease.claims, lease.unbroken, lease.holder) == (2, False, "")
    assert not record["conversation"].flagged


async def test_a_call_left_idle_without_its_signaling_socket_is_hung_up(
    brokered_call: BrokeredCall, watchers: RunningWatchers, upstream_is_engine: Engine
) -> None:
    watchers.start("a", replace(FAST, idle_seconds=2))
    await attached(brokered_call)

    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    conversation: Conversation = record["conversation"]
    assert (conversation.status, conversation.end_reason) == ("ended", "idle_timeout")
    assert record["lease"].finish_reason == "idle_timeout"
    assert record["turns"] == []
    assert await hang_up(upstream_is_engine, brokered_call.state.call_id) == 404  # already hung up


async def test_an_idle_call_whose_socket_is_still_open_is_not_hung_up(
    brokered_call: BrokeredCall, watchers: RunningWatchers, owner_cookie: str, monkeypatch: Any
) -> None:
    # The socket's own abandonment timer must not be the one that ends the call here.
    monkeypatch.setattr(messages, "RESUME_GRACE_SECONDS", 3600)
    answers = spy_on_roll_calls(monkeypatch)
    tab = await SignalingClient(owner_cookie).open()
    await tab.request(
        {"type": "call.resume", "conversation_id": brokered_call.conversation_id}, "call.resumed"
    )
    watchers.start("a", replace(FAST, idle_seconds=1))
    await attached(brokered_call)

    await eventually(lambda: _noop(len(answers)), lambda n: n >= 3)
    still = await record_of(brokered_call.conversation_id)
    await tab.close()
    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    assert answers[:3] == [True, True, True]
    assert (still["conversation"].status, still["lease"].finished_at) == ("active", None)
    assert record["conversation"].end_reason == "idle_timeout"
    assert answers[-1] is False


def spy_on_roll_calls(monkeypatch: Any) -> list[bool]:
    """Records each answer of the real roll call the watcher makes before an idle hang-up."""
    answers: list[bool] = []
    real = watch.presence.is_held

    async def is_held(conversation_id: int) -> bool:
        answers.append(await real(conversation_id))
        return answers[-1]

    monkeypatch.setattr(watch.presence, "is_held", is_held)
    return answers


async def test_a_call_over_its_maximum_duration_is_hung_up(
    brokered_call: BrokeredCall, watchers: RunningWatchers, upstream_is_engine: Engine
) -> None:
    watchers.start("a", replace(FAST, max_call_seconds=3))
    await attached(brokered_call)

    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    conversation: Conversation = record["conversation"]
    assert (conversation.status, conversation.end_reason) == ("ended", "max_duration")
    assert record["lease"].finish_reason == "max_duration"
    assert await hang_up(upstream_is_engine, brokered_call.state.call_id) == 404


async def test_a_call_ended_in_the_database_is_hung_up_upstream_by_its_watcher(
    brokered_call: BrokeredCall, watchers: RunningWatchers, upstream_is_engine: Engine
) -> None:
    watchers.start("a")
    await attached(brokered_call)
    await sync(services.end_conversation)(
        conversation_id=brokered_call.conversation_id, reason="ended by an admin"
    )

    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    assert record["lease"].finish_reason == "conversation_ended"
    assert record["conversation"].end_reason == "ended by an admin"
    assert await hang_up(upstream_is_engine, brokered_call.state.call_id) == 404
