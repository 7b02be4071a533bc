"""The lease: one watcher per call, taken over when its holder's heartbeat stops."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conversations.models import Conversation
from sideband import leases
from sideband.models import CallLease
from tests.environment import require

LEASE = 10
T0 = timezone.make_aware(datetime(2026, 11, 24, 10, 0))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def claim(holder: str, seconds: float = 0, limit: int = 10) -> list[leases.Claim]:
    return leases.claim(holder=holder, now=at(seconds), lease_seconds=LEASE, limit=limit)


def renew(holder: str, ids: list[int], seconds: float) -> leases.Renewal:
    return leases.renew(holder=holder, conversation_ids=ids, now=at(seconds), lease_seconds=LEASE)


@pytest.fixture
def call(conversation_factory) -> Conversation:
    return conversation_factory(status="active", upstream_call_id="rtc_one")


pytestmark = pytest.mark.django_db


def test_a_brokered_call_is_claimed_by_one_watcher_only(call) -> None:
    first, second = claim("a"), claim("b")

    assert [(c.conversation_id, c.call_id, c.unbroken) for c in first] == [
        (call.pk, "rtc_one", True)
    ]
    assert second == []
    lease = CallLease.objects.get()
    assert (lease.holder, lease.claims, lease.expires_at) == ("a", 1, at(LEASE))


def test_an_expired_lease_is_taken_over_and_the_watch_marked_broken(call) -> None:
    claim("a")
    taken = claim("b", seconds=LEASE + 1)

    assert [(c.conversation_id, c.unbroken) for c in taken] == [(call.pk, False)]
    assert renew("a", [call.pk], LEASE + 2).held == frozenset()
    lease = CallLease.objects.get()
    assert (lease.holder, lease.claims, lease.unbroken) == ("b", 2, False)


def test_the_heartbeat_keeps_the_call_from_other_watchers(call) -> None:
    claim("a")
    renewal = renew("a", [call.pk], seconds=LEASE - 1)

    assert renewal == leases.Renewal(held=frozenset({call.pk}), ended=frozenset())
    assert claim("b", seconds=LEASE + 1) == []
    assert CallLease.objects.get().expires_at == at(2 * LEASE - 1)


def test_a_heartbeat_does_not_extend_someone_elses_lease(call) -> None:
    claim("a")
    assert renew("b", [call.pk], seconds=1).held == frozenset()
    assert CallLease.objects.get().expires_at == at(LEASE)


def test_a_freed_call_is_claimable_at_once(call) -> None:
    claim("a")
    assert leases.free(holder="a", conversation_id=call.pk)
    assert [c.conversation_id for c in claim("b", seconds=1)] == [call.pk]


def test_a_finished_lease_is_never_claimed_again(call) -> None:
    claim("a")
    assert leases.finish(holder="a", conversation_id=call.pk, reason="upstream_ended", now=at(1))
    assert claim("b", seconds=2 * LEASE) == []
    lease = CallLease.objects.get()
    assert (lease.holder, lease.finish_reason, lease.finished_at) == ("", "upstream_ended", at(1))


def test_a_watcher_that_lost_its_lease_cannot_free_or_finish_it(call) -> None:
    claim("a")
    claim("b", seconds=LEASE + 1)
    assert not leases.free(holder="a", conversation_id=call.pk)
    assert not leases.finish(holder="a", conversation_id=call.pk, reason="x", now=at(LEASE + 2))
    assert CallLease.objects.get().holder == "b"


def test_only_answered_brokered_calls_still_open_are_claimed(conversation_factory) -> None:
    wanted = [
        conversation_factory(status="active", upstream_call_id="rtc_active"),
        conversation_factory(status="connecting", upstream_call_id="rtc_connecting"),
    ]
    conversation_factory(status="active", upstream_call_id="")
    conversation_factory(status="active", mode="direct", upstream_call_id="rtc_direct")
    conversation_factory(status="ended", upstream_call_id="rtc_ended", ended_at=T0)
    conversation_factory(status="failed", upstream_call_id="rtc_failed", ended_at=T0)

    claimed = claim("a")

    assert sorted(c.conversation_id for c in claimed) == sorted(c.pk for c in wanted)
    assert CallLease.objects.count() == 2


def test_a_claim_takes_no_more_calls_than_its_limit(conversation_factory) -> None:
    for n in range(3):
        conversation_factory(status="active", upstream_call_id=f"rtc_{n}")
    assert len(claim("a", limit=2)) == 2
    assert len(claim("b", limit=5)) == 1
    assert claim("a", limit=0) == []


def test_turns_stored_before_the_first_claim_make_the_watch_broken(conversation_factory):
    conversation_factory(status="active", upstream_call_id="rtc_late", turns=[("user", "Hello")])
    assert [c.unbroken for c in claim("a")] == [False]


def test_the_heartbeat_reports_calls_that_ended(call) -> None:
    claim("a")
    Conversation.objects.filter(pk=call.pk).update(status="ended", ended_at=at(1))
    assert renew("a", [call.pk], seconds=2) == leases.Renewal(
        held=frozenset({call.pk}), ended=frozenset({call.pk})
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_on_postgresql_take_each_call_once(conversation_factory) -> None:
    require(connection.vendor == "postgresql", "row locks (skip_locked) need PostgreSQL")
    ids = {conversation_factory(status="active", upstream_call_id=f"rtc_{n}").pk for n in range(6)}
    results: dict[str, list[int]] = {}
    start = threading.Barrier(3)

    def watcher(name: str) -> None:
        start.wait()
        try:
            results[name] = [c.conversation_id for c in claim(name, limit=6)]
        finally:
            connection.close()

    threads = [threading.Thread(target=watcher, args=(n,)) for n in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    claimed = [pk for name in results for pk in results[name]]
    assert sorted(claimed) == sorted(ids)
    holders = dict(CallLease.objects.values_list("conversation_id", "holder"))
    assert all(holders[pk] == name for name in results for pk in results[name])
