"""The scenes the cross-process tests play: a user talking in a tab, a staff member watching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.engine.client import Caller
from tests.live.processes import Daphne, Team
from tests.live.sockets import LivePage, TalkTab

SENTENCE = "The weather is nice and sunny in London."
RELIABLE_WORD = "sunny"  # PocketSphinx always gets it (tests/engine/test_spoken_turn.py)


@asynccontextmanager
async def talking(team: Team, daphne: Daphne) -> AsyncIterator[tuple[TalkTab, Caller]]:
    """A signed-in user's tab with a brokered call; its events relayed as the page does."""
    caller, tab = Caller(), TalkTab(daphne.origin, daphne.ws, team.caller_cookie)
    tab.start()
    await tab.expect("hello")
    await tab.start_call(caller)
    relaying = asyncio.get_running_loop().create_task(tab.relay_from(caller))
    try:
        yield tab, caller
    except BaseException as exc:
        exc.add_note("the tab's trail:\n" + "\n".join(tab.trail))
        raise
    finally:
        relaying.cancel()
        await tab.stop()
        await caller.close()


@asynccontextmanager
async def watching(team: Team, daphne: Daphne) -> AsyncIterator[LivePage]:
    page = LivePage(daphne.origin, daphne.ws, team.watcher_cookie)
    page.start()
    await page.expect("live.snapshot")
    try:
        yield page
    except BaseException as exc:
        exc.add_note("the Live page's trail:\n" + "\n".join(page.trail))
        raise
    finally:
        await page.stop()


async def status_shown(page: LivePage, conversation_id: int, status: str) -> dict[str, Any]:
    while True:
        message = await page.expect("live.call")
        call = message["call"]
        if call["conversation_id"] == conversation_id and call["status"] == status:
            return call


async def until(predicate, within: float = 30) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(within * 10)):
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()
