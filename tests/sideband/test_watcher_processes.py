"""`manage.py watch_calls` as a team runs it: two watcher processes beside two Daphne processes
(PostgreSQL, Redis, the standalone local engine; tests/live/processes.py). Each call gets exactly
one watcher; a watcher stopped with SIGTERM exits with 0 and frees its calls, so the other
process re-attaches at once and the record goes on with no turn lost or doubled, the tab gone.

The tabs never relay (as if every batch were lost): whatever the record holds, a watcher wrote.
The leases are made far longer than the test, so a call taken over during it was given up by its
watcher, not left to expire.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import psycopg
import pytest

from tests.engine.client import Caller
from tests.engine.conftest import spoken
from tests.live import processes
from tests.live.processes import ROOT, Daphne, Team
from tests.live.scenes import SENTENCE, until
from tests.live.sockets import TalkTab
from tests.sideband.test_watching_calls import SECOND_SENTENCE, heard_by

pytestmark = [pytest.mark.engine, pytest.mark.asyncio]

WATCHER_SETTINGS = {"SIDEBAND_POLL_SECONDS": "1", "SIDEBAND_LEASE_SECONDS": "3600"}


@dataclass(frozen=True)
class Lease:
    holder: str
    claims: int
    finish_reason: str

    @property
    def pid(self) -> int | None:
        """The holding process (holder ids are host:pid:random, sideband.watcher)."""
        return int(self.holder.split(":")[1]) if self.holder else None


def lease(database_url: str, conversation_id: int) -> Lease | None:
    with psycopg.connect(database_url) as db:
        row = db.execute(
            "SELECT holder, claims, finish_reason FROM sideband_calllease"
            " WHERE conversation_id = %s",
            [conversation_id],
        ).fetchone()
    return Lease(*row) if row else None


def sideband_turns(database_url: str, conversation_id: int) -> list[tuple[str, str, str]]:
    """(item id, role, words) of the turns with words, all of which must be the sideband's."""
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT item_id, role, text, source FROM conversations_turn"
            " WHERE conversation_id = %s AND text <> '' ORDER BY position",
            [conversation_id],
        ).fetchall()
    assert {source for *_, source in rows} <= {"sideband"}, rows
    return [(item, role, text) for item, role, text, _ in rows]


@contextmanager
def watch_calls(team: Team, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = team.env | WATCHER_SETTINGS
    command = [sys.executable, "manage.py", "watch_calls"]
    started = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(count)]
    try:
        yield started
    finally:
        for process in started:
            processes.stop(process)


@asynccontextmanager
async def silent_tab(team: Team, daphne: Daphne) -> AsyncIterator[tuple[TalkTab, Caller]]:
    """A signed-in tab holding a brokered call, that never relays the call's events."""
    caller, tab = Caller(), TalkTab(daphne.origin, daphne.ws, team.caller_cookie)
    tab.start()
    await tab.expect("hello")
    await tab.start_call(caller)
    try:
        yield tab, caller
    finally:
        await tab.stop()
        await caller.close()


def attaches(caller: Caller) -> int:
    """Sidebands attached to the call: each attach's session.update is echoed to the caller."""
    return caller.types().count("session.updated")


async def say(caller: Caller, sentence: str) -> None:
    before = len(caller.events)
    caller.microphone.say(spoken(sentence))
    await caller.wait_for("response.done", within=60, after=before)


async def test_two_watcher_processes_share_the_calls_and_sigterm_hands_a_call_over(team: Team):
    db = team.database_url
    with watch_calls(team, 2) as watchers:
        pids = {process.pid for process in watchers}
        async with (
            silent_tab(team, team.a) as (tab, caller),
            silent_tab(team, team.b) as (other_tab, other_caller),
        ):
            call, other = tab.conversation_id, other_tab.conversation_id
            assert call is not None
            assert other is not None
            assert await until(lambda: attaches(caller) and attaches(other_caller))
            await say(caller, SENTENCE)
            assert await until(lambda: len(sideband_turns(db, call)) == 2)
            before = {call: lease(db, call), other: lease(db, other)}
            seen_before = (attaches(caller), attaches(other_caller))

            stopped = next(p for p in watchers if p.pid == before[call].pid)
            exit_code = await asyncio.to_thread(processes.stop, stopped)
            assert await until(lambda: attaches(caller) == 2)
            taken_over = lease(db, call)
            await tab.stop()  # the tab is gone: the call goes on, recorded by the new watcher
            await say(caller, SECOND_SENTENCE)
            assert await until(lambda: len(sideband_turns(db, call)) == 4)
            await caller.close()  # the call ends upstream; its watcher records the end
            assert await until(lambda: lease(db, call).finish_reason != "")
            after = {call: lease(db, call), other: lease(db, other)}
            seen_after = (attaches(caller), attaches(other_caller))

    # Two web processes, two watchers: one watcher per call, one sideband each.
    assert seen_before == (1, 1)
    assert {before[call].claims, before[other].claims} == {1}
    assert {before[call].pid, before[other].pid} <= pids
    # SIGTERM: a clean exit, the call given up and taken by the other process long before its
    # lease (an hour) could have expired.
    assert exit_code == 0
    assert taken_over.claims == 2
    assert taken_over.pid == (pids - {stopped.pid}).pop()
    # Nothing lost, nothing doubled: the record is every turn the caller's data channel saw.
    turns = heard_by(caller)
    assert [role for _, role, _ in turns] == ["user", "assistant", "user", "assistant"]
    assert sideband_turns(db, call) == turns
    assert processes.conversation_row(db, call) == ("ended", "upstream_ended")
    assert (after[call].claims, after[call].finish_reason, after[call].holder) == (
        2,
        "upstream_ended",
        "",
    )
    # The other call: handed over too if the stopped process held it, never attached twice.
    handed_over = before[other].pid == stopped.pid
    assert after[other].claims == 1 + handed_over
    assert seen_after == (2, 1 + handed_over)
