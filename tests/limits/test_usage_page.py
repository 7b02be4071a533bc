"""The usage page: the signed-in user's own minutes and cost per day, and what budget is left."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.limits.calls import call_today

pytestmark = pytest.mark.django_db


def test_the_owner_sees_their_own_totals_per_day_and_budget_left(
    owner, stranger, owner_client, settings
):
    settings.LIMITS_DAILY_MINUTES = 60
    settings.LIMITS_MONTHLY_COST_CENTS = 500
    call_today(owner, seconds=720, audio_tokens=50_000)  # $1.60 at $32 per million
    call_today(stranger, seconds=2700, audio_tokens=900_000)

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
    call_today(owner, seconds=720, audio_tokens=50_000)

    page = admin_client.get(reverse("admin:limits_userusage_changelist"))
    html = page.content.decode()

    assert page.status_code == 200
    assert "owner" in html
    assert "stranger" in html
    assert "12.0" in html
    assert "1.60" in html
