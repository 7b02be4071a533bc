"""Publishing to the Live page: skipped when no socket of the in-memory layer's one process is in
the group, still sent to a member; a layer reaching other processes (Redis) is always sent to."""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import BaseChannelLayer, InMemoryChannelLayer

from live import broadcast

pytestmark = pytest.mark.asyncio


class Counting(InMemoryChannelLayer):
    """The in-memory layer, counting what reaches its group_send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append(group)
        await super().group_send(group, message)


class Elsewhere(BaseChannelLayer):
    """A layer whose groups live outside this process (as with Redis): only records sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append(group)


@pytest.fixture
def use_layer(monkeypatch):
    def use(layer: BaseChannelLayer) -> BaseChannelLayer:
        monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
        return layer

    return use


async def test_with_nobody_watching_nothing_is_sent_on_the_in_memory_layer(use_layer):
    layer = use_layer(Counting())

    await broadcast.call_changed(7)
    await broadcast.turns_changed(7, [{"item_id": "i1", "text": "hi"}])

    assert layer.sent == []


async def test_a_staff_socket_in_the_group_still_gets_the_update(use_layer):
    layer = use_layer(Counting())
    staff = await layer.new_channel()
    await layer.group_add(broadcast.CALLS_GROUP, staff)

    await broadcast.call_changed(7)

    assert layer.sent == [broadcast.CALLS_GROUP]
    assert await layer.receive(staff) == {"type": "live.call", "conversation_id": 7}


async def test_once_the_last_watcher_leaves_sending_stops(use_layer):
    layer = use_layer(Counting())
    staff = await layer.new_channel()
    await layer.group_add(broadcast.call_group(7), staff)
    await broadcast.turns_changed(7, [{"item_id": "i1", "text": "hi"}])
    await layer.group_discard(broadcast.call_group(7), staff)

    await broadcast.turns_changed(7, [{"item_id": "i2", "text": "again"}])

    assert layer.sent == [broadcast.call_group(7)]


async def test_a_layer_shared_with_other_processes_is_always_sent_to(use_layer):
    layer = use_layer(Elsewhere())

    await broadcast.call_changed(7)

    assert layer.sent == [broadcast.CALLS_GROUP]
