"""The admin shows a flagged conversation with both texts of each disputed turn."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conversations.models import Turn

pytestmark = pytest.mark.django_db


def test_a_flagged_conversation_shows_the_flag_and_both_texts(
    staff_client, conversation_factory
) -> None:
    conversation = conversation_factory(
        status="ended",
        upstream_call_id="rtc_disputed",
        turns=[("user", "hello there")],
        flagged=True,
        flag_reason="browser text differs from the upstream's for item_1",
    )
    Turn.objects.filter(conversation=conversation).update(
        source="sideband", browser_text="send me the money"
    )

    page = staff_client.get(
        reverse("admin:conversations_conversation_change", args=[conversation.pk])
    )
    listing = staff_client.get(reverse("admin:conversations_conversation_changelist"))

    assert page.status_code == 200
    body = page.content.decode()
    assert "hello there" in body
    assert "send me the money" in body
    assert "browser text differs from the upstream&#x27;s for item_1" in body
    assert listing.status_code == 200
    assert 'class="field-flagged"' in listing.content.decode()
