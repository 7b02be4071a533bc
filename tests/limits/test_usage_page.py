"""The usage page: the signed-in user's own minutes and cost per day, and what budget is left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation, ResponseUsage
from limits import selectors

pytestmark = pytest.mark.django_db


def call_today(owner, *, minutes: float, audio_tokens: int) -> Conversation:
    start = selectors.period_starts(timezone.now())[0]
    conversation = Conversation.objects.create(
        owner=owner,
        transport="webrtc",
        mode="brokered",
        model="gpt-realtime-2.1",
        status="ended",
        started_at=start,
        ended_at=start + timedelta(minutes=minutes),
    )
    usage = {"input_tokens": audio_tokens, "input_token_details": {"audio_tokens": audio_tokens}}
    ResponseUsage.objects.create(conversation=conversation, response_id="r1", usage=usage)
    return conversation


def test_the_owner_sees_their_own_totals_per_day_and_budget_left(
    owner, stranger, owner_client, settings
):
    settings.LIMITS_DAILY_MINUTES = 60
    settings.LIMITS_MONTHLY_COST_CENTS = 500
    call_today(owner, minutes=12, audio_tokens=50_000)  # $1.60 at $32 per million
    call_today(stranger, minutes=45, audio_tokens=900_000)

    page = owner_client.get(reverse("usage"))
    html = page.content.decode()

    assert page.status_code == 200
    assert "12.0 minutes" in html
    assert "$1.60" in html
    assert "45.0" not in html
    assert "28.80" not in html
    remaining = page.context["remaining"]
    assert [(row.label, row.left) for row in remaining] == [
        ("Minutes today", "48.0"),
        ("Cost this month", "$3.40"),
    ]
    days = page.context["days"]
    assert len(days) == 30
    assert days[-1].minutes == 12
    assert sum(day.minutes for day in days[:-1]) == 0
    assert html.count('data-testid="usage-day"') == 30
    assert "<svg" in html


def test_the_usage_page_needs_a_signed_in_user(client):
    page = client.get(reverse("usage"))

    assert page.status_code == 302
    assert page.url.startswith(reverse("login"))


def test_staff_see_every_users_usage_in_the_admin(owner, stranger, admin_client):
    call_today(owner, minutes=12, audio_tokens=50_000)

    page = admin_client.get(reverse("admin:limits_userusage_changelist"))
    html = page.content.decode()

    assert page.status_code == 200
    assert "owner" in html
    assert "stranger" in html
    assert "12.0" in html
    assert "1.60" in html
