"""The sideband watcher applies the owner's limits to a brokered call whose tab is gone."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation
from tests.engine.calls import hang_up
from tests.engine.conftest import Engine
from tests.limits.calls import earlier_call
from tests.sideband.conftest import (  # noqa: F401
    BrokeredCall,
    RunningWatchers,
    brokered_call,
    eventually,
    standalone_engine,
    upstream_is_engine,
    watchers,
)
from tests.sideband.test_watching_calls import finished, record_of

pytestmark = [pytest.mark.engine, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_a_watched_call_past_the_owners_daily_minutes_is_hung_up(
    brokered_call: BrokeredCall,  # noqa: F811
    watchers: RunningWatchers,  # noqa: F811
    upstream_is_engine: Engine,  # noqa: F811
    owner: Any,
    settings: Any,
) -> None:
    settings.LIMITS_DAILY_MINUTES = 1
    await earlier_call(owner, seconds=57)
    watchers.start("a")

    # The lease is finished after the upstream hang-up, the conversation's end before it.
    record = await eventually(lambda: record_of(brokered_call.conversation_id), finished, 60)

    conversation: Conversation = record["conversation"]
    assert record["lease"].finish_reason == "daily_minutes"
    assert (conversation.status, conversation.end_reason) == ("ended", "daily_minutes")
    assert await hang_up(upstream_is_engine, brokered_call.state.call_id) == 404  # hung up already
