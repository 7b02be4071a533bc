"""The write path: every state change of a conversation goes through these services."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from conversations import services
from conversations.models import Conversation, ResponseUsage, Turn
from conversations.services import ChangedTurn, RecordResult, Rejection
from conversations.transcript import usage_totals
from tests.conversations import events as ev
from tests.environment import require_row_locks

pytestmark = pytest.mark.django_db


def start(owner: Any, **overrides: Any) -> Conversation:
    arguments = {
        "owner": owner,
        "transport": "webrtc",
        "mode": "brokered",
        "model": "gpt-realtime-2.1",
        "voice": "marin",
        "instructions": "Be brief.",
    }
    return services.start_conversation(**(arguments | overrides))


def record(conversation: Conversation, events: list, source: str = "browser") -> RecordResult:
    return services.record_events(conversation_id=conversation.pk, events=events, source=source)


def database_state(conversation: Conversation) -> tuple:
    """Everything the record holds for a conversation, for before/after comparisons."""
    conversation.refresh_from_db()
    fields = [f.attname for f in Conversation._meta.concrete_fields]
    return (
        tuple(getattr(conversation, name) for name in fields),
        list(Turn.objects.filter(conversation=conversation).order_by("id").values()),
        list(ResponseUsage.objects.filter(conversation=conversation).order_by("id").values()),
    )


def stored_turns(conversation: Conversation) -> list[tuple]:
    return list(
        conversation.turns.order_by("position").values_list(
            "position", "item_id", "role", "text", "status"
        )
    )


def two_exchanges() -> list[dict]:
    return [
        ev.session_created("sess_A"),
        *ev.exchange("u1", "a1", None, "Hello there", "Hi! How can I help?", "resp_1"),
        *ev.exchange("u2", "a2", "a1", "What time is it?", "It is noon.", "resp_2"),
    ]


def test_start_conversation_opens_one_connecting_conversation(owner: Any) -> None:
    conversation = start(owner)

    assert Conversation.objects.get() == conversation
    assert (conversation.owner, conversation.status) == (owner, Conversation.Status.CONNECTING)
    assert (conversation.transport, conversation.mode) == ("webrtc", "brokered")
    assert (conversation.model, conversation.voice, conversation.instructions) == (
        "gpt-realtime-2.1",
        "marin",
        "Be brief.",
    )
    assert conversation.ended_at is None


@pytest.mark.parametrize("bad", [{"transport": "carrier-pigeon"}, {"mode": "telepathy"}])
def test_start_conversation_refuses_unknown_transports_and_modes(owner: Any, bad: dict) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        start(owner, **bad)

    assert not Conversation.objects.exists()


def test_mark_connected_makes_it_active_with_the_upstream_ids(owner: Any) -> None:
    conversation = start(owner)

    services.mark_connected(conversation_id=conversation.pk, call_id="rtc_1", session_id="sess_1")

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ACTIVE
    assert (conversation.upstream_call_id, conversation.upstream_session_id) == ("rtc_1", "sess_1")


def test_mark_connected_again_keeps_the_first_ids(owner: Any) -> None:
    conversation = start(owner)
    services.mark_connected(conversation_id=conversation.pk, call_id="rtc_1")

    services.mark_connected(conversation_id=conversation.pk, call_id="rtc_2", session_id="sess_2")

    conversation.refresh_from_db()
    assert (conversation.upstream_call_id, conversation.upstream_session_id) == ("rtc_1", "sess_2")


def test_mark_connected_after_the_end_does_not_reopen(owner: Any) -> None:
    conversation = start(owner)
    services.end_conversation(conversation_id=conversation.pk, reason="hung up")

    services.mark_connected(conversation_id=conversation.pk, call_id="rtc_1")

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ENDED


@pytest.mark.parametrize(
    "change",
    [
        lambda pk: services.mark_connected(conversation_id=pk, call_id="rtc_1"),
        lambda pk: services.end_conversation(conversation_id=pk, reason="hung up"),
    ],
    ids=["mark_connected", "end_conversation"],
)
def test_status_changes_to_an_unknown_conversation_raise(owner: Any, change: Any) -> None:
    known = start(owner)

    with pytest.raises(Conversation.DoesNotExist):
        change(known.pk + 1)

    known.refresh_from_db()
    assert (known.status, known.ended_at) == (Conversation.Status.CONNECTING, None)


def test_end_conversation_records_when_and_why_once(owner: Any) -> None:
    conversation = start(owner)
    services.mark_connected(conversation_id=conversation.pk)
    services.end_conversation(conversation_id=conversation.pk, reason="user hung up")
    first = database_state(conversation)

    services.end_conversation(conversation_id=conversation.pk, reason="socket closed")

    assert database_state(conversation) == first
    assert conversation.status == Conversation.Status.ENDED
    assert conversation.end_reason == "user hung up"
    assert conversation.ended_at is not None
    assert conversation.duration == conversation.ended_at - conversation.started_at


def test_ending_a_failed_conversation_keeps_it_failed(owner: Any) -> None:
    conversation = start(owner)
    services.fail_conversation(conversation_id=conversation.pk, error="401: bad key")
    failed_at = Conversation.objects.get().ended_at

    services.end_conversation(conversation_id=conversation.pk, reason="socket closed")

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.FAILED
    assert (conversation.error, conversation.ended_at, conversation.end_reason) == (
        "401: bad key",
        failed_at,
        "",
    )


def test_fail_conversation_keeps_the_first_error(owner: Any) -> None:
    conversation = start(owner)

    services.fail_conversation(conversation_id=conversation.pk, error="429: insufficient_quota")
    services.fail_conversation(conversation_id=conversation.pk, error="socket closed")

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.FAILED
    assert conversation.error == "429: insufficient_quota"
    assert conversation.ended_at is not None


def test_record_events_stores_turns_in_chain_order_with_usage_and_totals(owner: Any) -> None:
    conversation = start(owner)

    result = record(conversation, two_exchanges())

    assert stored_turns(conversation) == [
        (0, "u1", "user", "Hello there", "completed"),
        (1, "a1", "assistant", "Hi! How can I help?", "completed"),
        (2, "u2", "user", "What time is it?", "completed"),
        (3, "a2", "assistant", "It is noon.", "completed"),
    ]
    assert set(Turn.objects.values_list("source", flat=True)) == {"browser"}
    assert Turn.objects.filter(completed_at__isnull=True).count() == 0
    assert dict(ResponseUsage.objects.values_list("response_id", "status")) == {
        "resp_1": "completed",
        "resp_2": "completed",
    }
    conversation.refresh_from_db()
    assert (conversation.turn_count, conversation.first_words) == (4, "Hello there")
    assert (conversation.input_tokens, conversation.output_tokens) == (200, 40)
    assert (conversation.total_tokens, conversation.upstream_session_id) == (240, "sess_A")
    assert (result.stored + result.unchanged, result.rejected) == (len(two_exchanges()), ())
    assert [t.item_id for t in result.turns] == ["u1", "a1", "u2", "a2"]


def test_the_same_batch_twice_leaves_the_database_as_it_was(
    owner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    conversation = start(owner)
    batch = two_exchanges()
    record(conversation, batch)
    before = database_state(conversation)

    result = record(conversation, batch)

    assert database_state(conversation) == before
    assert (result.stored, result.unchanged, result.rejected, result.turns) == (0, 13, (), ())
    assert not [r for r in caplog.records if r.name == "conversations.services"]


def test_a_later_batch_reports_only_the_turns_it_changed(owner: Any) -> None:
    conversation = start(owner)
    record(conversation, [ev.committed("u1", None), ev.item_added("a1", "u1", "assistant")])

    result = record(conversation, [ev.user_transcript("u1", "Late words")])

    assert result.turns == (ChangedTurn("u1", "user", "Late words", "completed", 0),)
    assert (result.stored, result.unchanged) == (1, 0)
    assert stored_turns(conversation) == [
        (0, "u1", "user", "Late words", "completed"),
        (1, "a1", "assistant", "", "in_progress"),
    ]


def test_positions_are_recomputed_when_an_earlier_item_arrives_late(owner: Any) -> None:
    conversation = start(owner)
    record(conversation, [ev.assistant_transcript("a1", "Sure.", "resp_1")])

    result = record(
        conversation, [ev.committed("u1", None), ev.item_added("a1", "u1", "assistant")]
    )

    assert stored_turns(conversation) == [
        (0, "u1", "user", "", "in_progress"),
        (1, "a1", "assistant", "Sure.", "completed"),
    ]
    assert {(t.item_id, t.position) for t in result.turns} == {("u1", 0), ("a1", 1)}


def test_the_same_events_split_into_batches_give_the_same_record(owner: Any) -> None:
    whole, split = start(owner), start(owner)
    events = two_exchanges()
    record(whole, events)

    for event in reversed(events):
        record(split, [event], source="sideband")

    assert stored_turns(split) == stored_turns(whole)
    whole.refresh_from_db(), split.refresh_from_db()
    assert (split.total_tokens, split.turn_count) == (whole.total_tokens, whole.turn_count)
    assert set(Turn.objects.filter(conversation=split).values_list("source", flat=True)) == {
        "sideband"
    }


def test_usage_rows_are_one_per_response_and_totals_count_cached_tokens_once(owner: Any) -> None:
    conversation = start(owner)
    cached = ev.response_done("resp_1", usage_object=ev.usage(1000, 100, cached=800))

    record(conversation, [cached, ev.response_done("resp_2", usage_object=ev.usage(50, 5))])
    record(conversation, [cached])

    conversation.refresh_from_db()
    assert ResponseUsage.objects.count() == 2
    assert ResponseUsage.objects.get(response_id="resp_1").usage == cached["response"]["usage"]
    assert (
        conversation.input_tokens,
        conversation.cached_input_tokens,
        conversation.output_tokens,
        conversation.total_tokens,
    ) == (1050, 800, 105, 1155)


def test_totals_kept_across_batches_and_a_sideband_correction_sum_the_stored_rows(
    owner: Any,
) -> None:
    conversation = start(owner)
    record(conversation, [ev.response_done("resp_1", usage_object=ev.usage(100, 10, cached=40))])
    record(conversation, [ev.response_done("resp_2", usage_object=ev.usage(200, 20))])
    corrected = ev.response_done("resp_1", usage_object=ev.usage(150, 15, cached=60))

    record(conversation, [{**corrected, "event_id": "sideband_1"}], source="sideband")
    record(conversation, [ev.response_done("resp_3", usage_object=ev.usage(300, 30))])

    conversation.refresh_from_db()
    rows = [row.usage for row in ResponseUsage.objects.filter(conversation=conversation)]
    assert ResponseUsage.objects.get(response_id="resp_1").usage == corrected["response"]["usage"]
    expected = usage_totals(rows)
    assert (
        conversation.input_tokens,
        conversation.cached_input_tokens,
        conversation.output_tokens,
        conversation.total_tokens,
    ) == (expected.input_tokens, expected.cached_input_tokens, expected.output_tokens,
          expected.total_tokens) == (650, 60, 65, 715)  # fmt: skip


def test_an_interrupted_reply_is_stored_interrupted(owner: Any) -> None:
    conversation = start(owner)

    record(
        conversation,
        [
            ev.committed("u1", None),
            ev.item_added("a1", "u1", "assistant"),
            ev.assistant_transcript("a1", "Once upon a time there", "resp_1"),
            ev.response_done("resp_1", status="cancelled"),
        ],
    )

    assert stored_turns(conversation)[1] == (
        1,
        "a1",
        "assistant",
        "Once upon a time there",
        "interrupted",
    )


def test_rejected_events_are_reported_and_the_rest_of_the_batch_is_stored(
    owner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    conversation = start(owner)

    result = record(
        conversation,
        [
            {"type": "input_audio_buffer.committed", "event_id": "bad_1"},
            ev.committed("u1", None),
            "not an event",
        ],
    )

    assert result.rejected == (
        Rejection("input_audio_buffer.committed", "bad_1", "item_id is missing or not a string"),
        Rejection("", "", "event is not an object"),
    )
    assert (result.stored, result.unchanged) == (1, 0)
    assert stored_turns(conversation) == [(0, "u1", "user", "", "in_progress")]
    [logged] = [r for r in caplog.records if r.name == "conversations.services"]
    assert (logged.getMessage(), logged.count) == ("realtime events rejected", 2)
    assert logged.conversation_id == conversation.pk


def test_the_session_id_is_captured_only_when_none_is_known(owner: Any) -> None:
    known, unknown = start(owner), start(owner)
    services.mark_connected(conversation_id=known.pk, session_id="sess_from_broker")

    record(known, [ev.session_created("sess_other")])
    record(unknown, [ev.session_created("sess_new")])

    known.refresh_from_db(), unknown.refresh_from_db()
    assert (known.upstream_session_id, unknown.upstream_session_id) == (
        "sess_from_broker",
        "sess_new",
    )


def test_record_events_refuses_an_unknown_source_and_stores_nothing(owner: Any) -> None:
    conversation = start(owner)
    before = database_state(conversation)

    with pytest.raises(ValueError, match="source="):
        record(conversation, two_exchanges(), source="carrier-pigeon")

    assert database_state(conversation) == before


def test_services_refuse_an_unknown_conversation(owner: Any) -> None:
    with pytest.raises(Conversation.DoesNotExist):
        services.record_events(conversation_id=404, events=[], source="browser")


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_for_one_conversation_never_duplicate_turns(owner: Any) -> None:
    require_row_locks()
    conversation = start(owner)
    batch = two_exchanges()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def relay() -> None:
        try:
            barrier.wait()
            record(conversation, batch)
        except BaseException as exc:  # collected: an exception in a thread would go unseen
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [row[1] for row in stored_turns(conversation)] == ["u1", "a1", "u2", "a2"]
    assert ResponseUsage.objects.count() == 2
