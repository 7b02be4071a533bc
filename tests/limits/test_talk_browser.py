"""On the Talk page in Chromium: Continue seeds the call, a limit warns and then ends it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import USERNAME, App, _environment, _manage
from tests.browser.test_talk import REPLY_WAIT_MS, start_call

pytestmark = pytest.mark.browser

EARLIER = "My cat is called Pixel."
SETUP = f"""
from django.contrib.auth.models import User
from django.utils import timezone
from conversations.models import Conversation
from limits import services
talker = User.objects.get(username={USERNAME!r})
earlier = Conversation.objects.create(owner=talker, transport="webrtc", mode="brokered",
    model="gpt-realtime-2.1", status="ended", ended_at=timezone.now(), turn_count=2)
earlier.turns.create(item_id="item_1", position=0, role="user", text={EARLIER!r})
earlier.turns.create(item_id="item_2", previous_item_id="item_1", position=1, role="assistant",
    text="Pixel is a lovely name.")
services.set_policy(user=talker, max_call_seconds=8)
"""
TEARDOWN = (
    "from limits.models import LimitPolicy; "
    f"LimitPolicy.objects.filter(user__username={USERNAME!r}).delete()"
)


def manage_shell(app: App, code: str) -> None:
    _manage(_environment(urlsplit(app.url).port or 80, app.database), "shell", "-c", code)


@pytest.fixture
def earlier_and_short_calls(app: App) -> Iterator[int]:
    """An earlier conversation of the signed-in user, whose calls may last 8 seconds."""
    manage_shell(app, SETUP)
    yield app.rows("SELECT max(id) FROM conversations_conversation")[0][0]
    manage_shell(app, TEARDOWN)


def test_continue_seeds_the_call_and_a_limit_warns_then_ends_it(
    page: Page,
    app: App,
    earlier_and_short_calls: int,
):
    earlier = earlier_and_short_calls
    page.goto(f"/conversations/{earlier}/")
    page.get_by_test_id("continue").click()
    start_call(page, "brokered")

    expect(page.get_by_test_id("call-error")).to_contain_text("maximum length", timeout=5000)
    expect(page.get_by_test_id("call-state")).to_have_attribute(
        "data-state", "ended", timeout=REPLY_WAIT_MS
    )

    conversation_id, *_ = app.latest_conversation()
    assert app.rows(
        "SELECT continued_from_id, end_reason FROM conversations_conversation WHERE id = ?",
        conversation_id,
    ) == [(earlier, "max_duration")]
    assert (EARLIER,) in app.rows(
        "SELECT text FROM conversations_turn WHERE conversation_id = ?", conversation_id
    )
