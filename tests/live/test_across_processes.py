"""A team deployment: a user's call held by Daphne process A, watched and ended by a staff member
whose Live page is served by process B; Redis restarted mid-call; a deploy (SIGTERM); a process
killed mid-call. Real servers throughout (see tests/live/processes.py); the user's browser is
an aiortc caller plus a WebSocket client that relays as the Talk page does.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import httpx
import pytest

from live.restart import SERVICE_RESTART
from live.sweeper import STALE
from tests.engine.conftest import spoken
from tests.live import processes
from tests.live.processes import Team
from tests.live.scenes import (
    RELIABLE_WORD,
    SENTENCE,
    status_shown,
    talking,
    until,
    watching,
)

pytestmark = pytest.mark.asyncio


async def test_a_call_on_process_a_is_watched_and_ended_from_process_b(team: Team):
    async with watching(team, team.b) as live, talking(team, team.a) as (tab, caller):
        conversation_id = tab.conversation_id
        assert conversation_id is not None
        caller.microphone.say(spoken(SENTENCE))
        shown = await live.turn_texts(conversation_id)

        await live.send({"type": "call.end", "conversation_id": conversation_id})
        told = await tab.expect("call.ended")
        ended = await status_shown(live, conversation_id, "ended")

    assert RELIABLE_WORD in shown["user"].lower()
    assert shown["assistant"]
    assert told == {
        "type": "call.ended",
        "conversation_id": conversation_id,
        "reason": "ended_by_staff",
    }
    assert ended["end_reason"] == "ended by staff: watcher"
    assert processes.conversation_row(team.database_url, conversation_id) == (
        "ended",
        "ended by staff: watcher",
    )


def _new_turns(message: dict[str, Any], conversation_id: int, known: set[str]) -> bool:
    if message["type"] != "live.turns" or message["conversation_id"] != conversation_id:
        return False
    return any(t["item_id"] not in known and t["text"] for t in message["turns"])


async def test_a_redis_restart_mid_call_loses_nothing_and_the_live_page_recovers(team: Team):
    async with watching(team, team.b) as live, talking(team, team.a) as (tab, caller):
        conversation_id = tab.conversation_id
        assert conversation_id is not None
        team.redis.stop()
        caller.microphone.say(spoken(SENTENCE))
        await caller.wait_for("response.done", within=30)
        outage = (list(tab.close_codes), list(live.close_codes), len(tab.pending))
        team.redis.start()
        acked = await until(lambda: not tab.pending)
        shown = await live.turn_texts(conversation_id)
        # Its groups joined again, the page is told of a new turn as it is stored.
        known = {item for item, _ in processes.turn_items(team.database_url, conversation_id)}
        before = len(caller.events)
        caller.microphone.say(spoken("Is it sunny in London?"))
        await caller.wait_for("response.done", within=30, after=before)
        while not _new_turns(await live.expect("live.turns"), conversation_id, known):
            pass
        await until(lambda: not tab.pending)
        await tab.send({"type": "call.end"})
        await tab.expect("call.ended")
        ended = await status_shown(live, conversation_id, "ended")

    tab_closes, live_closes, unacked_during_outage = outage
    # Redis down: every socket of both processes dropped (1011, or 4503 when it could not join
    # its groups) and was retried until Redis was back.
    assert tab_closes
    assert live_closes
    assert set(tab_closes) | set(live_closes) <= {1011, 4503}
    assert unacked_during_outage > 0
    assert acked
    stored = processes.turn_rows(team.database_url, conversation_id)
    assert [role for role, _ in stored] == ["user", "assistant", "user", "assistant"]
    assert RELIABLE_WORD in stored[0][1].lower()
    assert stored[1][1]
    assert shown == {"user": stored[0][1], "assistant": stored[1][1]}
    assert ended["end_reason"] == "hangup"


async def test_a_deploy_closes_sockets_with_1012_and_the_call_resumes_on_another_process(
    team: Team,
):
    leaving = processes.start_daphne(team.env)
    try:
        async with watching(team, leaving) as live, talking(team, leaving) as (tab, caller):
            stopped = asyncio.get_running_loop().run_in_executor(None, leaving.stop)
            await until(lambda: tab.close_codes and live.close_codes)
            # The load balancer would now send the tab elsewhere: process B.
            tab.url, tab.origin = f"{team.b.ws}/ws/signaling/", team.b.origin
            resumed = await tab.expect("call.resumed")
            caller.microphone.say(spoken(SENTENCE))
            await caller.wait_for("response.done", within=30)
            acked = await until(lambda: not tab.pending)
            await tab.send({"type": "call.end"})
            await tab.expect("call.ended")
        exit_code = await stopped
    finally:
        leaving.stop(signal.SIGKILL)

    assert tab.close_codes[0] == live.close_codes[0] == SERVICE_RESTART
    assert exit_code == 0
    assert resumed["status"] == "active"
    assert acked
    stored = processes.turn_rows(team.database_url, resumed["conversation_id"])
    assert [role for role, _ in stored] == ["user", "assistant"]
    assert RELIABLE_WORD in stored[0][1].lower()


def engine_calls(team: Team) -> int:
    stats = httpx.get(
        f"{team.engine.base_url}/realtime/engine_stats", headers=team.engine.server_auth()
    )
    return stats.json()["calls"]


async def test_the_calls_of_a_killed_process_are_swept_and_hung_up(team: Team):
    doomed = processes.start_daphne(team.env)
    async with talking(team, doomed) as (tab, _caller):
        conversation_id = tab.conversation_id
        calls_before = engine_calls(team)
        doomed.stop(signal.SIGKILL)  # no disconnect(), no watcher: the call stays "active"
        # As if the dead process had held it longer than LIVE_STALE_CALL_SECONDS.
        processes.execute(
            team.database_url,
            "UPDATE conversations_conversation SET started_at = now() - interval '10 minutes'"
            " WHERE id = %s",
            conversation_id,
        )
        status_before = processes.conversation_row(team.database_url, conversation_id)
        output = await asyncio.to_thread(processes.manage, team.env, "sweep_calls", "--once")

    assert status_before == ("active", "")
    assert f"ended 1 stale call(s): [{conversation_id}]" in output
    assert processes.conversation_row(team.database_url, conversation_id) == ("ended", STALE)
    assert (calls_before, engine_calls(team)) == (1, 0)
