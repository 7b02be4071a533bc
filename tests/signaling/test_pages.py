"""The Talk and Chat pages: who sees them and what they offer."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_talk_page_offers_the_call_controls(owner_client, settings):
    settings.REALTIME_VOICES = ["marin", "cedar"]
    settings.REALTIME_VOICE = "cedar"

    page = owner_client.get("/").content.decode()

    for testid in ("start-call", "hangup-call", "mute", "input-level", "transcript", "call-text"):
        assert f'data-testid="{testid}"' in page
    assert '<option value="cedar" selected>' in page
    assert '<option value="shimmer"' not in page
    assert "js/talk-page.js" in page


def test_direct_mode_is_offered_only_when_enabled(owner_client, settings):
    settings.REALTIME_DIRECT_MODE_ENABLED = False

    page = owner_client.get("/").content.decode()

    assert 'value="brokered"' in page
    assert 'value="direct"' not in page


def test_the_local_engine_is_announced(owner_client, settings):
    settings.USING_LOCAL_ENGINE = True
    local = owner_client.get("/").content.decode()
    settings.USING_LOCAL_ENGINE = False
    remote = owner_client.get("/").content.decode()

    assert 'data-testid="local-engine-note"' in local
    assert 'data-testid="local-engine-note"' not in remote


def test_chat_page_offers_a_message_box(owner_client):
    page = owner_client.get("/chat/").content.decode()

    assert 'data-testid="chat-text"' in page
    assert "js/chat-page.js" in page


@pytest.mark.parametrize("url", ["/", "/chat/"])
def test_pages_need_a_signed_in_user(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
