"""`manage.py sweep_calls --once`: one pass, then exit (for cron)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.models import Conversation
from live.sweeper import STALE

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_pass_ends_the_calls_nobody_holds(conversation_factory, settings, capsys):
    settings.LIVE_STALE_CALL_SECONDS = 60
    orphan = conversation_factory(status="active", started_at=timezone.now() - timedelta(minutes=5))
    kept = conversation_factory(status="active")

    call_command("sweep_calls", "--once")

    assert f"ended 1 stale call(s): [{orphan.pk}]" in capsys.readouterr().out
    orphan.refresh_from_db()
    kept.refresh_from_db()
    assert (orphan.status, orphan.end_reason) == ("ended", STALE)
    assert (kept.status, kept.end_reason) == (Conversation.Status.ACTIVE, "")
