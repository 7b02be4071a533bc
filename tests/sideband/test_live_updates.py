"""What the watcher records reaches the staff Live page, as the browser's relay does: the turns
it stored, and the call's end. The tab here never relays, so the watcher is the only source."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.live.client import LiveClient
from tests.live.conftest import staff_cookie  # noqa: F401
from tests.sideband.conftest import BrokeredCall, RunningWatchers, eventually
from tests.sideband.test_watching_calls import (
    SENTENCE,
    attached,
    finished,
    record_of,
    said,
    speak,
)

pytestmark = [pytest.mark.engine, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def turns_shown(live: LiveClient, conversation_id: int, count: int) -> dict[str, Any]:
    """Every turn the Live page is sent for the call, by item id, until `count` have words."""
    shown: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while sum(bool(t["text"]) for t in shown.values()) < count:
        assert time.monotonic() < deadline, f"the Live page was shown only {shown}"
        message = await live.expect("live.turns", wait=60)
        assert message["conversation_id"] == conversation_id
        shown |= {turn["item_id"]: turn for turn in message["turns"]}
    return shown


async def next_call_update(live: LiveClient) -> dict[str, Any]:
    """The next `live.call`; the turns a last batch may still change arrive before it."""
    while True:
        message = json.loads(await live.communicator.receive_from(timeout=60))
        if message["type"] == "live.call":
            return message
        assert message["type"] == "live.turns", message


async def test_turns_the_watcher_records_and_the_end_it_records_reach_the_live_page(
    brokered_call: BrokeredCall,
    watchers: RunningWatchers,
    staff_cookie: str,  # noqa: F811
) -> None:
    live = LiveClient(staff_cookie)
    snapshot = await live.open()
    watchers.start("a")
    await attached(brokered_call)

    await speak(brokered_call, SENTENCE, responses=1)
    shown = await turns_shown(live, brokered_call.conversation_id, 2)
    await brokered_call.caller.close()  # the upstream ends the call; the watcher records the end
    ended = await next_call_update(live)
    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    assert [c["conversation_id"] for c in snapshot["calls"]] == [brokered_call.conversation_id]
    truth = said(brokered_call)
    assert [(t["item_id"], t["role"], t["text"]) for t in shown.values()] == truth
    assert [turn[3] for turn in record["turns"]] == ["sideband", "sideband"]
    assert (ended["call"]["conversation_id"], ended["call"]["status"]) == (
        brokered_call.conversation_id,
        "ended",
    )
    assert ended["call"]["end_reason"] == "upstream_ended"
    assert await live.nothing_more()
    await live.close()
