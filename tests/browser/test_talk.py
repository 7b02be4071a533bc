"""Talking in Chromium end to end: fake mic → Talk page → embedded engine → transcript → database.

Chromium's fake microphone plays a sentence spoken by eSpeak NG; PocketSphinx in the engine
reliably gets "sunny" and "london" of it, so those are the words asserted on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_FLAGS, SERVER_KEY, App, sign_in
from tests.browser.signaling_line import SignalingLine
from tests.environment import require_chromium

pytestmark = pytest.mark.browser

REPLY_WAIT_MS = 30_000
FINAL_ASSISTANT = '[data-testid="turn"][data-role="assistant"][data-final="true"]'
FINAL_USER = '[data-testid="turn"][data-role="user"][data-final="true"]'


def start_call(page: Page, mode: str) -> None:
    expect(page.get_by_test_id("start-call")).to_be_enabled(timeout=REPLY_WAIT_MS)
    page.get_by_test_id("call-mode").select_option(mode)
    # By keyboard, as someone without a mouse would.
    page.get_by_test_id("start-call").focus()
    page.keyboard.press("Enter")
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
def test_a_spoken_call_is_answered_heard_and_kept(
    page: Page, app: App, artifacts: Path, socket_frames: list[str], mode: str
):
    page.goto("/")
    expect(page.get_by_test_id("local-engine-note")).to_be_visible()
    start_call(page, mode)
    page.wait_for_function("document.getElementById('input-level').value > 0")
    wait_for_reply_heard(page)
    page.screenshot(path=artifacts / f"talk-{mode}.png", full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=artifacts / f"talk-{mode}-narrow.png", full_page=True)
    timings = record_timings(page, artifacts, f"talk-{mode}")
    hang_up(page)

    assert any('"call.started"' in frame for frame in socket_frames)
    assert not any(SERVER_KEY in frame for frame in socket_frames)
    assert SERVER_KEY not in page.content()
    conversation_id, recorded_mode, transport, status, call_id = app.latest_conversation()
    assert (recorded_mode, transport, status) == (mode, "webrtc", "ended")
    assert re.fullmatch(r"rtc_[A-Za-z0-9_-]+", call_id)
    assert timings["firstAudio"] > timings["connected"] > 0
    turns = assert_recorded_exchange(app, conversation_id)
    assert_shown_in_history_and_admin(page, conversation_id, turns)


def queued_event_types(page: Page) -> list[str]:
    """The types of the events waiting in the page's stored outbox (sessionStorage)."""
    return page.evaluate(
        """() => (JSON.parse(sessionStorage.getItem("voiceapp.signaling"))?.pending ?? [])
            .flatMap((batch) => batch.events.map((event) => event.type))"""
    )


def cut_until_the_reply_is_queued(page: Page, line: SignalingLine) -> None:
    """Cut the signaling line while the user speaks; wait until the reply's record is queued."""
    page.locator('[data-testid="turn"][data-role="user"]').first.wait_for(timeout=REPLY_WAIT_MS)
    line.cut()
    expect(page.get_by_test_id("call-state")).to_have_attribute(
        "data-state", "reconnecting", timeout=REPLY_WAIT_MS
    )
    page.wait_for_function(
        """() => (JSON.parse(sessionStorage.getItem("voiceapp.signaling"))?.pending ?? [])
            .some((batch) => batch.events.some((event) => event.type === "response.done"))""",
        timeout=REPLY_WAIT_MS,
    )


def test_a_dropped_socket_loses_and_doubles_nothing(page: Page, app: App, artifacts: Path):
    line = SignalingLine(page)
    page.goto("/")
    start_call(page, "brokered")
    cut_until_the_reply_is_queued(page, line)
    assert "response.done" in queued_event_types(page)

    line.restore()
    wait_for_reply_heard(page)
    page.wait_for_function("window.voiceapp.unacked() === 0", timeout=REPLY_WAIT_MS)
    page.screenshot(path=artifacts / "talk-after-reconnect.png", full_page=True)
    hang_up(page)

    conversation_id, *_ = app.latest_conversation()
    assert_recorded_exchange(app, conversation_id)
    assert page.locator('[data-testid="turn"]').count() == 2


def test_a_reload_resends_the_outbox_and_ends_the_call(page: Page, app: App):
    line = SignalingLine(page)
    page.goto("/")
    start_call(page, "brokered")
    cut_until_the_reply_is_queued(page, line)

    page.reload()
    line.restore()
    expect(page.get_by_test_id("call-state")).to_have_attribute(
        "data-state", "ended", timeout=REPLY_WAIT_MS
    )

    conversation_id, _, _, status, _ = app.latest_conversation()
    assert status == "ended"
    assert app.rows(
        "SELECT end_reason FROM conversations_conversation WHERE id = ?", conversation_id
    ) == [("page_reloaded",)]
    assert_recorded_exchange(app, conversation_id)
    assert queued_event_types(page) == []


def test_typed_text_joins_the_voice_call(page: Page, app: App):
    page.goto("/")
    start_call(page, "brokered")
    wait_for_reply_heard(page)

    page.get_by_test_id("mute").click()
    expect(page.get_by_test_id("mute")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("call-text").fill("Please tell me about Paris.")
    page.get_by_test_id("call-text").press("Enter")
    page.locator(FINAL_ASSISTANT).nth(1).wait_for(timeout=REPLY_WAIT_MS)
    page.locator(FINAL_USER).nth(1).wait_for(timeout=REPLY_WAIT_MS)
    hang_up(page)

    conversation_id, *_ = app.latest_conversation()
    turns = app.turns(conversation_id)
    assert [role for role, _, _ in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[2][1] == "Please tell me about Paris."
    assert "paris" in turns[3][1].lower()


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


def test_a_refused_microphone_is_explained(app: App):
    # No fake permission prompt and no grant: headless Chromium refuses the microphone.
    flags = [flag for flag in CHROMIUM_FLAGS if flag != "--use-fake-ui-for-media-stream"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=require_chromium(), headless=True, args=flags
        )
        page = browser.new_context(base_url=app.url).new_page()
        sign_in(page, app)
        page.goto("/")
        expect(page.get_by_test_id("start-call")).to_be_enabled(timeout=REPLY_WAIT_MS)
        page.get_by_test_id("start-call").click()

        expect(page.get_by_test_id("call-error")).to_contain_text("Microphone access was refused")
        expect(page.get_by_test_id("start-call")).to_be_enabled()
        browser.close()
