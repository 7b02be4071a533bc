"""The sans-I/O core: event lists in, turns and usage out. No database, no Django."""

from __future__ import annotations

import copy
import random
from dataclasses import astuple

import pytest

from conversations.transcript import (
    ASSISTANT,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    INTERRUPTED,
    USER,
    Transcript,
    TurnState,
    UsageState,
    UsageTotals,
    order_by_chain,
    usage_totals,
)
from tests.conversations import events as ev


def fed(events: list) -> Transcript:
    transcript = Transcript()
    transcript.feed_all(events)
    return transcript


def rows(transcript: Transcript) -> list[tuple[str, str, str, str]]:
    return [(t.item_id, t.role, t.text, t.status) for t in transcript.ordered_turns()]


def two_exchanges() -> list[dict]:
    return [
        ev.session_created("sess_A"),
        *ev.exchange("u1", "a1", None, "Hello there", "Hi! How can I help?", "resp_1"),
        *ev.exchange("u2", "a2", "a1", "What time is it?", "It is noon.", "resp_2"),
    ]


def test_a_spoken_exchange_gives_user_and_assistant_turns_in_chain_order() -> None:
    transcript = fed(two_exchanges())

    assert rows(transcript) == [
        ("u1", USER, "Hello there", COMPLETED),
        ("a1", ASSISTANT, "Hi! How can I help?", COMPLETED),
        ("u2", USER, "What time is it?", COMPLETED),
        ("a2", ASSISTANT, "It is noon.", COMPLETED),
    ]
    assert [t.previous_item_id for t in transcript.ordered_turns()] == ["", "u1", "a1", "u2"]
    assert transcript.turns["a2"].response_id == "resp_2"
    assert transcript.session_id == "sess_A"
    assert set(transcript.usages) == {"resp_1", "resp_2"}


def test_order_follows_the_item_chain_whatever_the_arrival_order() -> None:
    events = two_exchanges()
    expected = rows(fed(events))
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)

    assert rows(fed(shuffled)) == expected
    assert rows(fed(list(reversed(events)))) == expected


def test_a_user_transcript_completing_after_the_reply_stays_before_it() -> None:
    transcript = fed(
        [
            ev.committed("u1", None),
            ev.assistant_transcript("a1", "Sure.", "resp_1"),
            ev.item_added("a1", "u1", "assistant"),
            ev.user_transcript("u1", "Can you help?"),
        ]
    )

    assert rows(transcript) == [
        ("u1", USER, "Can you help?", COMPLETED),
        ("a1", ASSISTANT, "Sure.", COMPLETED),
    ]


def test_the_same_event_twice_changes_nothing_the_second_time() -> None:
    events = two_exchanges()
    transcript = fed(events)
    before = copy.deepcopy((transcript.turns, transcript.usages))

    outcomes = transcript.feed_all(events)

    assert {o.kind for o in outcomes} == {"unchanged"}
    assert {o.reason for o in outcomes} == {"duplicate event_id"}
    assert (transcript.turns, transcript.usages) == before


def test_a_repeated_event_id_is_ignored_even_with_different_content() -> None:
    first = ev.user_transcript("u1", "right words")
    replayed = {**first, "transcript": "other words"}
    transcript = fed([ev.committed("u1", None), first])

    outcome = transcript.feed(replayed)

    assert (outcome.kind, outcome.reason) == ("unchanged", "duplicate event_id")
    assert transcript.turns["u1"].text == "right words"


def test_a_seeded_transcript_reports_an_already_recorded_batch_as_unchanged() -> None:
    events = two_exchanges()
    recorded = fed(events)
    seeded = Transcript.seeded(
        turns=copy.deepcopy(recorded.ordered_turns()),
        usages=recorded.usages.values(),
        session_id=recorded.session_id,
    )

    outcomes = seeded.feed_all(copy.deepcopy(events))

    assert [o.kind for o in outcomes] == ["unchanged"] * len(events)
    assert rows(seeded) == rows(recorded)


def test_beta_event_names_give_the_same_record() -> None:
    transcript = fed(
        [
            ev.item_added("u1", None, name="conversation.item.created"),
            ev.user_transcript("u1", "Hi"),
            ev.item_added("a1", "u1", "assistant", name="conversation.item.created"),
            ev.assistant_transcript("a1", "Hello", name="response.audio_transcript.done"),
            ev.item_added("a2", "a1", "assistant", name="conversation.item.created"),
            ev.assistant_text("a2", "In text too", "resp_2", name="response.text.done"),
        ]
    )

    assert rows(transcript) == [
        ("u1", USER, "Hi", COMPLETED),
        ("a1", ASSISTANT, "Hello", COMPLETED),
        ("a2", ASSISTANT, "In text too", COMPLETED),
    ]


def test_a_typed_message_and_a_text_reply_are_turns() -> None:
    transcript = fed(
        [
            ev.typed_message("u1", None, "Spell 'cat'"),
            ev.item_added("a1", "u1", "assistant"),
            ev.assistant_text("a1", "C-A-T"),
        ]
    )

    assert rows(transcript) == [
        ("u1", USER, "Spell 'cat'", COMPLETED),
        ("a1", ASSISTANT, "C-A-T", COMPLETED),
    ]


def test_response_done_output_fills_a_reply_whose_transcript_event_never_came() -> None:
    transcript = fed(
        [
            ev.item_added("a1", None, "assistant"),
            ev.response_done("resp_1", output=[ev.output_message("a1", "Only in response.done")]),
        ]
    )

    assert rows(transcript) == [("a1", ASSISTANT, "Only in response.done", COMPLETED)]


def test_response_done_content_never_overrides_the_transcript_event() -> None:
    transcript = fed(
        [
            ev.assistant_transcript("a1", "The spoken words", "resp_1"),
            ev.response_done("resp_1", output=[ev.output_message("a1", "something else")]),
        ]
    )

    assert rows(transcript) == [("a1", ASSISTANT, "The spoken words", COMPLETED)]


@pytest.mark.parametrize("status", ["cancelled", "incomplete"])
def test_a_cut_off_response_marks_its_reply_interrupted_and_keeps_its_words(status: str) -> None:
    transcript = fed(
        [
            ev.assistant_transcript("a1", "Let me explain the whole", "resp_1"),
            ev.response_done(
                "resp_1", status=status, output=[ev.output_message("a1", None, "incomplete")]
            ),
        ]
    )

    assert rows(transcript) == [("a1", ASSISTANT, "Let me explain the whole", INTERRUPTED)]


def test_truncation_keeps_only_the_words_heard_when_the_event_gives_them() -> None:
    transcript = fed(
        [
            ev.assistant_transcript("a1", "One two three four", "resp_1"),
            ev.truncated("a1", transcript="One two"),
            ev.assistant_transcript("a1", "One two three four", "resp_1"),  # a late replay
        ]
    )

    assert rows(transcript) == [("a1", ASSISTANT, "One two", INTERRUPTED)]


def test_truncation_without_the_heard_words_keeps_the_text_and_marks_it_interrupted() -> None:
    transcript = fed([ev.assistant_transcript("a1", "One two three"), ev.truncated("a1")])

    assert rows(transcript) == [("a1", ASSISTANT, "One two three", INTERRUPTED)]


def test_a_failed_transcription_is_a_failed_user_turn() -> None:
    transcript = fed([ev.committed("u1", None), ev.user_transcript_failed("u1")])

    assert rows(transcript) == [("u1", USER, "", FAILED)]


def test_a_transcription_retried_after_failure_is_complete() -> None:
    transcript = fed(
        [ev.committed("u1", None), ev.user_transcript_failed("u1"), ev.user_transcript("u1", "Hi")]
    )

    assert rows(transcript) == [("u1", USER, "Hi", COMPLETED)]


def test_an_item_without_its_final_words_yet_is_in_progress() -> None:
    transcript = fed([ev.committed("u1", None), ev.item_added("a1", "u1", "assistant")])

    assert rows(transcript) == [("u1", USER, "", IN_PROGRESS), ("a1", ASSISTANT, "", IN_PROGRESS)]


def test_tool_call_items_are_links_in_the_chain_but_not_turns() -> None:
    call = {"id": "fc1", "type": "function_call", "name": "clock", "arguments": "{}"}
    transcript = fed(
        [
            ev.item_added("a2", "fc1", "assistant"),
            ev.assistant_transcript("a2", "It is noon.", "resp_2"),
            {"type": "conversation.item.added", "event_id": "e_fc", "item": call,
             "previous_item_id": "u1"},
            ev.committed("u1", None),
            ev.user_transcript("u1", "What time is it?"),
        ]
    )  # fmt: skip

    assert rows(transcript) == [
        ("u1", USER, "What time is it?", COMPLETED),
        ("a2", ASSISTANT, "It is noon.", COMPLETED),
    ]


def test_events_that_carry_nothing_for_the_record_change_nothing() -> None:
    transcript = Transcript()
    outcomes = transcript.feed_all(
        [
            {"type": "rate_limits.updated", "event_id": "e1", "rate_limits": []},
            {"type": "response.output_audio_transcript.delta", "event_id": "e2", "delta": "Hi"},
            {"type": "output_audio_buffer.started", "event_id": "e3"},
        ]
    )

    assert [o.kind for o in outcomes] == ["unchanged"] * 3
    assert (transcript.turns, transcript.usages) == ({}, {})


def malformed(name: str, event: object, reason: str) -> object:
    return pytest.param(event, reason, id=name)


COMMITTED, TEXT_DONE = "input_audio_buffer.committed", "response.output_text.done"
ASSISTANT_U0 = {"id": "u0", "type": "message", "role": "assistant", "content": []}
USER_DONE = "conversation.item.input_audio_transcription.completed"
MALFORMED = [
    malformed("not an object", ["response.done"], "event is not an object"),
    malformed("no type", {"event_id": "e1"}, "type is missing or not a string"),
    malformed("type not a string", {"type": 7}, "type is missing or not a string"),
    malformed(
        "event_id not a string", {"type": COMMITTED, "event_id": 5}, "event_id is not a string"
    ),
    malformed("no item_id", {"type": COMMITTED}, "item_id is missing or not a string"),
    malformed(
        "transcript not a string",
        {"type": USER_DONE, "item_id": "u1", "transcript": ["Hi"]},
        "transcript is missing or not a string",
    ),
    malformed("no text", {"type": TEXT_DONE, "item_id": "a1"}, "text is missing or not a string"),
    malformed("no response", {"type": "response.done"}, "response is missing or not an object"),
    malformed(
        "response without id",
        {"type": "response.done", "response": {"status": "completed"}},
        "id is missing or not a string",
    ),
    malformed(
        "output item not an object",
        {"type": "response.done", "response": {"id": "resp_1", "output": ["a1"]}},
        "an output item is not an object",
    ),
    malformed(
        "output item of a user item",
        {"type": "response.done", "response": {"id": "resp_1", "output": [ASSISTANT_U0]}},
        "item u0 is a user item, not assistant",
    ),
    malformed(
        "item not an object",
        {"type": "conversation.item.added", "item": "u1"},
        "item is missing or not an object",
    ),
    malformed(
        "previous id not a string",
        {"type": COMMITTED, "item_id": "u1", "previous_item_id": 3},
        "previous_item_id is not a string",
    ),
    malformed(
        "session not an object",
        {"type": "session.updated", "session": None},
        "session is missing or not an object",
    ),
]


@pytest.mark.parametrize(("event", "reason"), MALFORMED)
def test_a_malformed_event_is_rejected_with_its_reason_and_changes_nothing(
    event: object, reason: str
) -> None:
    transcript = fed([ev.committed("u0", None)])
    before = copy.deepcopy((transcript.turns, transcript.usages, transcript.session_id))

    outcome = transcript.feed(event)

    assert (outcome.kind, outcome.reason) == ("rejected", reason)
    assert (transcript.turns, transcript.usages, transcript.session_id) == before


def test_an_event_giving_an_item_the_other_role_is_rejected() -> None:
    transcript = fed([ev.committed("u1", None)])

    outcome = transcript.feed(ev.assistant_transcript("u1", "I am not the user"))

    assert (outcome.kind, outcome.reason) == ("rejected", "item u1 is a user item, not assistant")
    assert rows(transcript) == [("u1", USER, "", IN_PROGRESS)]


def test_usage_is_kept_raw_per_response() -> None:
    raw = ev.usage(1000, 200, cached=600) | {"future_field": {"x": 1}}
    transcript = fed([ev.response_done("resp_1", usage_object=raw)])

    assert transcript.usages == {"resp_1": UsageState("resp_1", "completed", raw)}


def test_a_response_without_usage_is_kept_with_empty_usage() -> None:
    event = ev.response_done("resp_1", status="failed")
    event["response"]["usage"] = None

    transcript = fed([event])

    assert transcript.usages == {"resp_1": UsageState("resp_1", "failed", {})}


def test_usage_totals_count_cached_tokens_as_part_of_input_only_once() -> None:
    totals = usage_totals([ev.usage(1000, 200, cached=600), ev.usage(500, 50, cached=0)])

    assert totals == UsageTotals(
        input_tokens=1500, cached_input_tokens=600, output_tokens=250, total_tokens=1750
    )


def test_usage_totals_tolerate_missing_and_foreign_shapes() -> None:
    totals = usage_totals(
        [
            None,
            "garbage",
            {},
            {"input_tokens": 10, "output_tokens": 5},  # no total: input + output
            {"input_tokens": True, "output_tokens": -3, "total_tokens": "9"},
            {"input_tokens": 4, "input_token_details": {"cached_tokens": 99}},  # cached ≤ input
            {"type": "duration", "seconds": 12},  # a transcription usage shape
        ]
    )

    assert astuple(totals) == (14, 4, 5, 19)


def test_the_session_id_is_the_first_one_seen() -> None:
    transcript = fed([ev.session_created("sess_1"), ev.session_created("sess_2")])

    assert transcript.session_id == "sess_1"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], []),
        ([("b", "a"), ("c", "b"), ("a", "")], ["a", "b", "c"]),
        # "x" follows an item never seen: it keeps its place after the run seen before it.
        ([("a", ""), ("b", "a"), ("x", "gone"), ("y", "x")], ["a", "b", "x", "y"]),
        ([("x", "gone"), ("a", ""), ("b", "a")], ["x", "a", "b"]),
        # A cycle (malformed input) still yields every item once.
        ([("a", "b"), ("b", "a"), ("c", "")], ["c", "a", "b"]),
        ([("a", "a")], ["a"]),
    ],
)
def test_order_by_chain(items: list[tuple[str, str]], expected: list[str]) -> None:
    assert order_by_chain(items) == expected


def test_seeded_turns_keep_their_stored_order_for_items_of_unknown_predecessor() -> None:
    stored = [TurnState("x", USER, "first", COMPLETED), TurnState("y", USER, "second", COMPLETED)]
    transcript = Transcript.seeded(turns=stored, usages=[])
    transcript.feed_all([ev.committed("z", "gone"), ev.user_transcript("z", "third")])

    assert [t.item_id for t in transcript.ordered_turns()] == ["x", "y", "z"]


def random_events(rng: random.Random, count: int) -> list[dict]:
    """Events as a call and a misbehaving relay give them: mostly each item after the last,
    sometimes late, out of order, naming unknown or later items, tool calls, or itself."""
    items: list[str] = []
    events: list[dict] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.5 or not items:
            item_id = f"i{n}"
            later = ["", "unknown", f"i{n + 3}"]  # none, never seen, seen later
            previous = items[-1] if items and rng.random() < 0.8 else rng.choice(later)
            items.append(item_id)
            if rng.random() < 0.5:
                events.append(ev.committed(item_id, previous or None))
            elif rng.random() < 0.8:
                events.append(ev.item_added(item_id, previous or None, ASSISTANT))
            else:
                tool_call = {"id": item_id, "type": "function_call", "call_id": f"c{n}"}
                events.append({"type": "conversation.item.added", "previous_item_id": previous,
                               "item": tool_call})  # fmt: skip
        elif roll < 0.7:
            events.append(ev.user_transcript(f"i{n}", "words before the item itself"))
            items.append(f"i{n}")
        elif roll < 0.85:
            item_id = rng.choice(items)
            events.append(ev.committed(item_id, rng.choice([*items, "", item_id])))
        else:
            events.append(ev.user_transcript(rng.choice(items), f"words {n}"))
    return events


def link_given(event: dict) -> tuple[str, str | None]:
    """The item an event names and the predecessor it gives (None: it gives none)."""
    if event["type"] == "conversation.item.added":
        return event["item"]["id"], event.get("previous_item_id") or ""
    if event["type"] == "input_audio_buffer.committed":
        return event["item_id"], event.get("previous_item_id") or ""
    return event["item_id"], None


@pytest.mark.parametrize("seed", range(40))
def test_the_kept_order_is_always_the_order_rebuilt_from_the_chain(seed: int) -> None:
    transcript = Transcript()
    links: dict[str, str] = {}  # what the rules say the chain is: each item's first predecessor
    before: dict[str, int] = {}
    for event in random_events(random.Random(seed), 60):
        if transcript.feed(event).kind == "rejected":
            continue
        item_id, previous = link_given(event)
        if not links.get(item_id):
            links[item_id] = previous or ""
        ordered = [t.item_id for t in transcript.ordered_turns()]
        expected = [i for i in order_by_chain(list(links.items())) if i in transcript.turns]
        assert ordered == expected
        assert [transcript.position(item_id) for item_id in ordered] == list(range(len(ordered)))
        if not transcript.take_changes().reordered:
            moved = {i for i, p in before.items() if ordered.index(i) != p}
            assert not moved, "a turn moved while the order was kept"
        before = {item_id: n for n, item_id in enumerate(ordered)}


def test_a_call_fed_in_order_is_never_reordered_and_reports_only_what_each_batch_changed() -> None:
    transcript = Transcript()
    transcript.take_changes()
    previous = None
    for n in range(1, 4):
        u, a = f"u{n}", f"a{n}"
        transcript.feed_all(ev.exchange(u, a, previous, f"Question {n}", f"Answer {n}", f"r{n}"))
        changes = transcript.take_changes()
        assert (changes.items, changes.usages, changes.reordered) == ({u, a}, (f"r{n}",), False)
        previous = a
    assert [t.item_id for t in transcript.ordered_turns()] == ["u1", "a1", "u2", "a2", "u3", "a3"]
