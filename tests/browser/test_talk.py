"""Talking in Chromium end to end: fake mic → Talk page → embedded engine → transcript → database.

Chromium's fake microphone plays a sentence spoken by eSpeak NG; PocketSphinx in the engine
reliably gets "sunny" and "london" of it, so those are the words asserted on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import App

pytestmark = pytest.mark.browser

REPLY_WAIT_MS = 30_000
FINAL_ASSISTANT = '[data-testid="turn"][data-role="assistant"][data-final="true"]'
FINAL_USER = '[data-testid="turn"][data-role="user"][data-final="true"]'


def start_call(page: Page, mode: str) -> None:
    expect(page.get_by_test_id("start-call")).to_be_enabled(timeout=REPLY_WAIT_MS)
    page.get_by_test_id("call-mode").select_option(mode)
    page.get_by_test_id("start-call").click()
    expect(page.get_by_test_id("call-state")).to_have_attribute(
        "data-state", "connected", timeout=REPLY_WAIT_MS
    )


def wait_for_reply_heard(page: Page) -> None:
    page.locator(FINAL_ASSISTANT).first.wait_for(timeout=REPLY_WAIT_MS)
    page.locator(FINAL_USER).first.wait_for(timeout=REPLY_WAIT_MS)
    # Bytes arrive even for silence: energy above zero means the voice was really played.
    page.wait_for_function("async () => (await window.voiceapp.audioEnergy()) > 0")


def hang_up(page: Page) -> None:
    page.get_by_test_id("hangup-call").click()
    expect(page.get_by_test_id("call-state")).to_have_attribute(
        "data-state", "ended", timeout=REPLY_WAIT_MS
    )


def assert_recorded_exchange(app: App, conversation_id: int) -> list[tuple[str, str, str]]:
    turns = app.turns(conversation_id)
    assert [role for role, _, _ in turns] == ["user", "assistant"]
    assert "sunny" in turns[0][1].lower()
    assert "london" in turns[0][1].lower()
    assert "london" in turns[1][1].lower()
    return turns


def assert_shown_in_history_and_admin(page: Page, conversation_id: int, turns: list) -> None:
    page.goto(f"/conversations/{conversation_id}/")
    for _, text, _ in turns:
        expect(page.get_by_text(text, exact=False).first).to_be_visible()
    page.goto(f"/admin/conversations/conversation/{conversation_id}/change/")
    for _, text, _ in turns:
        assert text in page.content()


def record_timings(page: Page, artifacts: Path, name: str) -> dict:
    timings = page.evaluate("window.voiceapp.timings")
    (artifacts / f"{name}-timings.json").write_text(json.dumps(timings, indent=2))
    return timings


@pytest.mark.parametrize("mode", ["brokered", "direct"])
def test_a_spoken_call_is_answered_heard_and_kept(page: Page, app: App, artifacts: Path, mode):
    page.goto("/")
    expect(page.get_by_test_id("local-engine-note")).to_be_visible()
    start_call(page, mode)
    wait_for_reply_heard(page)
    page.screenshot(path=artifacts / f"talk-{mode}.png", full_page=True)
    timings = record_timings(page, artifacts, f"talk-{mode}")
    hang_up(page)

    conversation_id, recorded_mode, transport, status, call_id = app.latest_conversation()
    assert (recorded_mode, transport, status) == (mode, "webrtc", "ended")
    assert re.fullmatch(r"rtc_[A-Za-z0-9_-]+", call_id)
    assert timings["firstAudio"] > timings["connected"] > 0
    turns = assert_recorded_exchange(app, conversation_id)
    assert_shown_in_history_and_admin(page, conversation_id, turns)


def test_a_dropped_socket_loses_and_doubles_nothing(page: Page, app: App, artifacts: Path):
    page.goto("/")
    start_call(page, "brokered")
    # Drop the socket while the user is speaking: the transcript events that follow go to the
    # outbox and must arrive, once each, after the reconnect.
    page.locator('[data-testid="turn"][data-role="user"]').first.wait_for(timeout=REPLY_WAIT_MS)
    page.evaluate("window.voiceapp.dropSocket()")
    expect(page.get_by_test_id("call-state")).to_have_attribute(
        "data-state", "reconnecting", timeout=REPLY_WAIT_MS
    )
    wait_for_reply_heard(page)
    page.wait_for_function("window.voiceapp.unacked() === 0")
    page.screenshot(path=artifacts / "talk-after-reconnect.png", full_page=True)
    hang_up(page)

    conversation_id, *_ = app.latest_conversation()
    assert_recorded_exchange(app, conversation_id)
    shown = page.locator('[data-testid="turn"]')
    assert shown.count() == 2


def test_a_typed_chat_is_answered_in_streamed_text(page: Page, app: App, artifacts: Path):
    page.goto("/chat/")
    expect(page.get_by_test_id("chat-send")).to_be_enabled(timeout=REPLY_WAIT_MS)
    page.get_by_test_id("chat-text").fill("What is the weather like in London?")
    page.get_by_test_id("chat-text").press("Enter")
    page.locator(FINAL_ASSISTANT).first.wait_for(timeout=REPLY_WAIT_MS)
    page.screenshot(path=artifacts / "chat.png", full_page=True)

    conversation_id, mode, transport, _, _ = app.latest_conversation()
    turns = app.turns(conversation_id)
    assert (mode, transport) == ("text", "websocket")
    assert turns[0][:2] == ("user", "What is the weather like in London?")
    assert turns[1][0] == "assistant"
    assert "london" in turns[1][1].lower()
    assert_shown_in_history_and_admin(page, conversation_id, turns)
