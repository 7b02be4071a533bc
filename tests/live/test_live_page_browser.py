"""The Live page in Chromium: a staff member on process B sees a call held by process A, its
transcript as it is spoken, and ends it. Run with the browser tests (`pytest -m browser`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Page, async_playwright, expect

from tests.browser.conftest import ARTIFACTS, CHROMIUM_FLAGS
from tests.engine.conftest import spoken
from tests.environment import require_chromium
from tests.live.processes import Team
from tests.live.scenes import RELIABLE_WORD, SENTENCE, talking

pytestmark = [pytest.mark.browser, pytest.mark.asyncio]

WAIT_MS = 30_000


@pytest_asyncio.fixture
async def live_page(team: Team) -> AsyncIterator[Page]:
    """The staff member's Live page on process B, signed in with the watcher's session."""
    executable = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        context = await browser.new_context(base_url=team.b.origin)
        session = {"name": "sessionid", "value": team.watcher_cookie, "url": team.b.origin}
        await context.add_cookies([session])
        page = await context.new_page()
        await page.goto("/live/")
        yield page
        await browser.close()


async def test_the_live_page_shows_a_call_from_another_process_and_ends_it(
    team: Team, live_page: Page
):
    page = live_page
    await expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "live")
    async with talking(team, team.a) as (tab, caller):
        card = page.locator(
            f'[data-testid="live-call"][data-conversation-id="{tab.conversation_id}"]'
        )
        await expect(card).to_contain_text("caller", timeout=WAIT_MS)
        caller.microphone.say(spoken(SENTENCE))
        heard = card.locator('[data-testid="turn"][data-role="user"][data-final="true"]')
        await expect(heard).to_contain_text(RELIABLE_WORD, timeout=WAIT_MS)
        answer = card.locator('[data-testid="turn"][data-role="assistant"][data-final="true"]')
        await expect(answer).to_be_visible(timeout=WAIT_MS)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "live-page.png", full_page=True)

        await card.get_by_test_id("end-call").click()
        told = await tab.expect("call.ended")
        await expect(card).to_have_count(0, timeout=WAIT_MS)

    assert told["reason"] == "ended_by_staff"
    await expect(page.get_by_test_id("live-empty")).to_be_visible()
