"""The Redis channel layer as settings.py configures it (CI runs the suite with REDIS_URL set)."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import channel_layers
from django.conf import settings

from tests.environment import require

pytestmark = pytest.mark.asyncio

# Longer than both redis-py's default read timeout and channels_redis's blocking wait (5 s).
QUIET_SECONDS = 7


async def test_a_receive_outlasts_a_quiet_spell_longer_than_the_redis_read_timeout() -> None:
    require(bool(settings.REDIS_URL), "REDIS_URL is unset (the Redis channel layer is not in use)")
    layer = channel_layers.make_backend("default")
    channel = await layer.new_channel()

    async def send_after_a_quiet_spell() -> None:
        await asyncio.sleep(QUIET_SECONDS)
        await layer.send(channel, {"type": "test.message", "n": 1})

    sender = asyncio.create_task(send_after_a_quiet_spell())
    try:
        # Before the fix this raised "Timeout reading from …" after 5 s, and Daphne closed
        # every idle WebSocket with 1011.
        message = await asyncio.wait_for(layer.receive(channel), QUIET_SECONDS + 20)
    finally:
        await sender
        await layer.close_pools()
    assert message == {"type": "test.message", "n": 1}
