"""A record kept between batches (`services.Recording`) and batches written together
(`services.record_batches`): the same record as batch-by-batch writes from the database, without
reading every turn again, and reloaded whenever another writer touched the conversation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services
from conversations.models import Conversation, ResponseUsage, Turn
from tests.conversations import events as ev

# Real commits: a recording is confirmed by an on-commit callback.
pytestmark = pytest.mark.django_db(transaction=True)

_TURN_FIELDS = ("item_id", "position", "role", "text", "status", "source", "browser_text")


def start(owner: Any) -> Conversation:
    return services.start_conversation(
        owner=owner, transport="webrtc", mode="brokered", model="m", voice="v", instructions=""
    )


def record(
    conversation: Conversation,
    events: list,
    source: str = "browser",
    recording: services.Recording | None = None,
) -> services.RecordResult:
    return services.record_events(
        conversation_id=conversation.pk, events=events, source=source, recording=recording
    )


def record_state(conversation: Conversation) -> tuple:
    """What the record holds, ids, times and the revision left out (to compare two calls)."""
    conversation.refresh_from_db()
    derived = (
        conversation.input_tokens,
        conversation.cached_input_tokens,
        conversation.output_tokens,
        conversation.total_tokens,
        conversation.turn_count,
        conversation.first_words,
        conversation.upstream_session_id,
        conversation.flagged,
        conversation.flag_reason,
    )
    turns = list(conversation.turns.order_by("position").values_list(*_TURN_FIELDS))
    usages = list(
        conversation.responses.order_by("response_id").values_list("response_id", "usage")
    )
    return derived, turns, usages


def turn_reads(queries: CaptureQueriesContext) -> list[str]:
    table = Turn._meta.db_table
    return [q["sql"] for q in queries if q["sql"].startswith("SELECT") and table in q["sql"]]


def writes(queries: CaptureQueriesContext) -> list[str]:
    # An `executemany` is captured as "N times: UPDATE …".
    sql = [re.sub(r"^\d+ times: ", "", q["sql"]) for q in queries]
    return [s for s in sql if s.split()[0] in {"INSERT", "UPDATE", "DELETE"}]


# A call told by both sources, in the order a real one may interleave them: the browser first,
# the sideband confirming one item and contradicting another, the browser going on.
U1 = [ev.session_created("sess_1"), *ev.exchange("u1", "a1", None, "Hello", "Hi there", "r1")]
U2_BROWSER = ev.exchange("u2", "a2", "a1", "Refund me", "Sure", "r2")
U2_SIDEBAND = ev.exchange("u2", "a2", "a1", "Thank you", "Sure", "r2")
U3 = ev.exchange("u3", "a3", "a2", "Bye", "Goodbye", "r3")
SCRIPT = [
    ("browser", U1[:3]),
    ("browser", U1[3:]),
    ("sideband", U1),
    ("browser", U2_BROWSER),
    ("sideband", U2_SIDEBAND),
    ("browser", U2_BROWSER),
    ("browser", U3),
    ("browser", U3),
]


def test_a_kept_recording_gives_the_same_record_as_reading_it_every_time(owner) -> None:
    kept, reread = start(owner), start(owner)
    recording = services.Recording(kept.pk, "browser")
    for source, events in SCRIPT:
        with_recording = recording if source == "browser" else None
        a = record(kept, events, source, with_recording)
        b = record(reread, events, source)
        assert (a.stored, a.unchanged, a.rejected, a.turns) == (
            b.stored,
            b.unchanged,
            b.rejected,
            b.turns,
        )

    assert record_state(kept) == record_state(reread)
    derived, turns, usages = record_state(kept)
    assert derived[7:] == (True, "browser text differs from the upstream's for u2")
    assert [(t[0], t[3], t[5]) for t in turns][2:4] == [
        ("u2", "Thank you", "sideband"),
        ("a2", "Sure", "sideband"),
    ]
    assert len(usages) == 3


def test_a_current_recording_reads_no_turns_and_writes_only_what_changed(owner) -> None:
    conversation = start(owner)
    recording = services.Recording(conversation.pk, "browser")
    record(conversation, U1, recording=recording)
    with CaptureQueriesContext(connection) as second:
        result = record(conversation, U2_BROWSER, recording=recording)
    with CaptureQueriesContext(connection) as resent:
        again = record(conversation, U2_BROWSER, recording=recording)

    assert [t.item_id for t in result.turns] == ["u2", "a2"]
    assert turn_reads(second) == []
    assert len(writes(second)) == 3  # the two turns, the usage row, the totals and revision
    assert (again.stored, again.turns) == (0, ())
    assert turn_reads(resent) == []
    assert writes(resent) == []
    assert conversation.turns.count() == 4


def test_a_recording_reloads_after_the_sideband_wrote_in_between(owner) -> None:
    conversation = start(owner)
    recording = services.Recording(conversation.pk, "browser")
    record(conversation, U1 + U2_BROWSER, recording=recording)
    record(conversation, U2_SIDEBAND, source="sideband")
    with CaptureQueriesContext(connection) as after:
        record(conversation, U2_BROWSER + U3, recording=recording)

    assert len(turn_reads(after)) == 1
    _, turns, _ = record_state(conversation)
    assert [t[3] for t in turns] == ["Hello", "Hi there", "Thank you", "Sure", "Bye", "Goodbye"]
    assert turns[2][5:] == ("sideband", "Refund me")


def test_a_recording_reloads_after_unconfirmed_turns_left_the_record(owner) -> None:
    conversation = start(owner)
    recording = services.Recording(conversation.pk, "browser")
    record(conversation, U1, recording=recording)
    revision = recording.revision
    assert services.flag_unconfirmed_turns(conversation_id=conversation.pk) == ["u1", "a1"]
    record(conversation, U2_BROWSER, recording=recording)

    conversation.refresh_from_db()
    assert conversation.record_revision == revision + 2
    assert recording.revision == conversation.record_revision
    texts = list(conversation.turns.order_by("position").values_list("text", "status"))
    assert texts[:2] == [("", "failed"), ("", "failed")]
    assert conversation.first_words == "Refund me"


def test_a_batch_that_did_not_commit_leaves_the_recording_to_be_reloaded(owner) -> None:
    conversation = start(owner)
    recording = services.Recording(conversation.pk, "browser")
    batches = [
        services.Batch(conversation.pk, U1, "browser", recording),
        services.Batch(404, U2_BROWSER, "browser"),
    ]
    with pytest.raises(Conversation.DoesNotExist):
        services.record_batches(batches=batches)
    assert recording.revision is None
    assert conversation.turns.count() == 0

    record(conversation, U1, recording=recording)
    assert conversation.turns.count() == 2
    assert recording.revision == 1


def test_batches_written_together_give_each_its_own_result_in_one_transaction(owner) -> None:
    first, second = start(owner), start(owner)
    recording = services.Recording(first.pk, "browser")
    batches = [
        services.Batch(second.pk, U1, "browser"),
        services.Batch(first.pk, U1, "browser", recording),
        services.Batch(second.pk, U2_BROWSER, "browser"),
        services.Batch(second.pk, U1, "browser"),
    ]
    results = services.record_batches(batches=batches)

    assert [len(r.turns) for r in results] == [2, 2, 2, 0]
    assert [r.stored for r in results][3] == 0
    assert record_state(first)[1] == record_state(second)[1][:2]
    assert ResponseUsage.objects.filter(conversation=second).count() == 2
    assert recording.revision == 1


def test_batches_refuse_an_unknown_source_before_writing_anything(owner) -> None:
    conversation = start(owner)
    batches = [
        services.Batch(conversation.pk, U1, "browser"),
        services.Batch(conversation.pk, U1, "carrier pigeon"),
    ]
    with pytest.raises(ValueError, match="carrier pigeon"):
        services.record_batches(batches=batches)
    assert conversation.turns.count() == 0


def test_a_recording_of_a_very_long_call_is_not_kept_between_batches(owner, monkeypatch) -> None:
    monkeypatch.setattr(services, "MAX_KEPT_TURNS", 3)
    conversation = start(owner)
    recording = services.Recording(conversation.pk, "browser")
    record(conversation, U1, recording=recording)
    kept = (recording.revision, len(recording.turns))
    record(conversation, U2_BROWSER, recording=recording)

    assert kept == (1, 2)
    assert (recording.revision, recording.turns, recording.usages) == (None, {}, {})
    with CaptureQueriesContext(connection) as third:
        record(conversation, U3, recording=recording)
    assert len(turn_reads(third)) == 1
    assert [t[0] for t in record_state(conversation)[1]] == ["u1", "a1", "u2", "a2", "u3", "a3"]


def test_turns_a_late_link_moves_are_renumbered_though_the_batch_did_not_touch_them(
    owner: Any,
) -> None:
    conversation = start(owner)
    recording = services.Recording(conversation.pk, "browser")
    # u2 arrives first pointing at a1, which is not known yet: it starts a run of its own.
    record(conversation, [ev.committed("u1", None), ev.committed("u2", "a1")], recording=recording)
    before = list(conversation.turns.order_by("position").values_list("item_id", flat=True))

    record(conversation, [ev.item_added("a1", "u1", "assistant")], recording=recording)

    after = conversation.turns.order_by("position").values_list("item_id", "position")
    assert before == ["u1", "u2"]
    assert list(after) == [("u1", 0), ("a1", 1), ("u2", 2)]
    assert recording.revision is not None  # the kept record went on, it was not reloaded


def test_a_group_writes_one_statement_per_table_however_many_batches_it_holds(owner) -> None:
    calls = [start(owner) for _ in range(5)]
    recordings = [services.Recording(c.pk, "browser") for c in calls]
    for conversation, recording in zip(calls, recordings, strict=True):
        record(conversation, U1, recording=recording)
    batches = [
        services.Batch(c.pk, U2_BROWSER, "browser", r)
        for c, r in zip(calls, recordings, strict=True)
    ]

    with CaptureQueriesContext(connection) as group:
        results = services.record_batches(batches=batches)

    tables = [
        (sql.split()[0], sql.split()[2] if sql.startswith("INSERT") else sql.split()[1])
        for sql in writes(group)
    ]
    assert sorted(tables) == [
        ("INSERT", '"conversations_responseusage"'),
        ("INSERT", '"conversations_turn"'),
        ("UPDATE", '"conversations_conversation"'),
    ]
    assert [len(r.turns) for r in results] == [2] * 5
    for conversation in calls:
        assert [t[0] for t in record_state(conversation)[1]] == ["u1", "a1", "u2", "a2"]
        assert conversation.record_revision == 2


def test_a_batch_that_reloads_mid_group_reads_what_earlier_batches_wrote(owner) -> None:
    grouped, alone = start(owner), start(owner)
    recording = services.Recording(grouped.pk, "browser")
    script = [("browser", U1), ("browser", U2_BROWSER), ("sideband", U2_SIDEBAND)]

    services.record_batches(
        batches=[
            services.Batch(grouped.pk, events, source, recording if source == "browser" else None)
            for source, events in script
        ]
    )
    for source, events in script:
        record(alone, events, source)

    assert record_state(grouped) == record_state(alone)
    assert record_state(grouped)[0][7] is True  # the sideband saw the browser's words


def test_a_lone_batch_runs_the_statements_of_a_group_of_one(owner) -> None:
    alone, grouped = start(owner), start(owner)

    with CaptureQueriesContext(connection) as lone:
        record(alone, U1)
    with CaptureQueriesContext(connection) as group:
        services.record_batches(batches=[services.Batch(grouped.pk, U1, "browser")])

    def shapes(queries: CaptureQueriesContext) -> list[str]:
        return [re.sub(r"\d+", "N", q["sql"]) for q in queries]  # ids and times differ

    table = Conversation._meta.db_table
    assert shapes(lone) == shapes(group)
    assert sum(q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"] for q in lone) == 1
    assert record_state(alone) == record_state(grouped)
