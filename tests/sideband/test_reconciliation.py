"""Browser relay and sideband reconciled by item id: each turn once, the sideband's words win,
and any disagreement flags the conversation with both texts kept."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation
from conversations.services import flag_unconfirmed_turns, record_events

pytestmark = pytest.mark.django_db


def committed(item_id: str, previous: str | None = None) -> dict[str, Any]:
    return {
        "type": "input_audio_buffer.committed",
        "event_id": f"ev_commit_{item_id}",
        "item_id": item_id,
        "previous_item_id": previous,
    }


def heard(item_id: str, words: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.completed",
        "event_id": f"ev_heard_{item_id}",
        "item_id": item_id,
        "content_index": 0,
        "transcript": words,
    }


def answered(item_id: str, previous: str, words: str, usage: dict[str, Any]) -> list[dict]:
    return [
        {
            "type": "conversation.item.added",
            "event_id": f"ev_added_{item_id}",
            "previous_item_id": previous,
            "item": {"id": item_id, "type": "message", "role": "assistant", "content": []},
        },
        {
            "type": "response.output_audio_transcript.done",
            "event_id": f"ev_said_{item_id}",
            "response_id": "resp_1",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "transcript": words,
        },
        {
            "type": "response.done",
            "event_id": "ev_done_resp_1",
            "response": {"id": "resp_1", "status": "completed", "output": [], "usage": usage},
        },
    ]


USAGE = {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}


@pytest.fixture
def call(conversation_factory) -> Conversation:
    return conversation_factory(status="active", upstream_call_id="rtc_reconcile")


def record(call: Conversation, source: str, events: list[dict[str, Any]]) -> Any:
    return record_events(conversation_id=call.pk, events=events, source=source)


def stored(call: Conversation) -> list[tuple[str, str, str, str]]:
    turns = call.turns.order_by("position")
    return list(turns.values_list("item_id", "text", "source", "browser_text"))


def flag(call: Conversation) -> tuple[bool, str]:
    call.refresh_from_db()
    return call.flagged, call.flag_reason


def test_a_relayed_turn_confirmed_by_the_sideband_is_stored_once_as_sideband(call) -> None:
    events = [committed("item_u"), heard("item_u", "hello there")]
    record(call, "browser", events)
    record(call, "sideband", events)

    assert stored(call) == [("item_u", "hello there", "sideband", "")]
    assert flag(call) == (False, "")


def test_sideband_words_replace_different_relayed_words_and_flag_the_call(call) -> None:
    record(call, "browser", [committed("item_u"), heard("item_u", "send me the money")])
    record(call, "sideband", [committed("item_u"), heard("item_u", "hello there")])

    assert stored(call) == [("item_u", "hello there", "sideband", "send me the money")]
    assert flag(call) == (True, "browser text differs from the upstream's for item_u")
    assert call.first_words == "hello there"


def test_relayed_words_never_replace_the_sidebands_and_the_difference_is_flagged(call) -> None:
    record(call, "sideband", [committed("item_u"), heard("item_u", "hello there")])
    forged = [committed("item_u"), heard("item_u", "send me the money")]
    first = record(call, "browser", forged)
    again = record(call, "browser", forged)

    assert stored(call) == [("item_u", "hello there", "sideband", "send me the money")]
    assert flag(call) == (True, "browser text differs from the upstream's for item_u")
    assert [t.text for t in first.turns] == ["hello there"]
    assert again.turns == ()


def test_relayed_words_show_until_the_sideband_gives_the_same_ones(call) -> None:
    record(call, "sideband", [committed("item_u")])
    record(call, "browser", [committed("item_u"), heard("item_u", "hello there")])
    meanwhile = stored(call)
    record(call, "sideband", [heard("item_u", "hello there")])

    assert meanwhile == [("item_u", "hello there", "browser", "")]
    assert stored(call) == [("item_u", "hello there", "sideband", "")]
    assert flag(call) == (False, "")


def test_the_browser_cannot_change_usage_the_sideband_stored(call) -> None:
    exchange = [committed("item_u"), heard("item_u", "hi")]
    record(call, "sideband", exchange + answered("item_a", "item_u", "Hello!", USAGE))
    inflated = {"input_tokens": 9000, "output_tokens": 9000, "total_tokens": 18000}
    record(call, "browser", exchange + answered("item_a", "item_u", "Hello!", inflated))

    call.refresh_from_db()
    assert list(call.responses.values_list("response_id", "usage")) == [("resp_1", USAGE)]
    assert (call.input_tokens, call.output_tokens, call.total_tokens) == (10, 20, 30)
    assert flag(call) == (False, "")


def test_items_only_the_browser_relayed_leave_the_record_of_a_watched_call(call) -> None:
    record(call, "sideband", [committed("item_u"), heard("item_u", "hello there")])
    record(call, "browser", [committed("item_x", "item_u"), heard("item_x", "refund me")])

    unconfirmed = flag_unconfirmed_turns(conversation_id=call.pk)

    assert unconfirmed == ["item_x"]
    assert stored(call) == [
        ("item_u", "hello there", "sideband", ""),
        ("item_x", "", "browser", "refund me"),
    ]
    assert call.turns.get(item_id="item_x").status == "failed"
    assert flag(call) == (True, "browser relayed items the upstream never produced: item_x")


def test_a_fully_confirmed_call_is_not_flagged_at_its_end(call) -> None:
    events = [committed("item_u"), heard("item_u", "hello there")]
    record(call, "browser", events)
    record(call, "sideband", events)

    assert flag_unconfirmed_turns(conversation_id=call.pk) == []
    assert flag(call) == (False, "")
    assert stored(call) == [("item_u", "hello there", "sideband", "")]
