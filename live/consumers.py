"""The staff Live socket: the calls in progress, their transcripts as they change, ending one.

Close codes: 4401 when not signed in, 4403 when signed in without staff access
(`live.access.may_watch`); the socket is accepted first so that the browser sees the code.
On connect it joins `live.calls`, then every open call's `live.call.<id>` group, then sends the
database's state; a socket that reconnects (after a restart of Daphne or Redis) so resyncs.
When the channel layer does not join it within JOIN_TIMEOUT_SECONDS (Redis down or restarting),
the socket is closed with 4503 and the page reconnects later: it never waits forever unjoined.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from live import access, broadcast, ending, messages, selectors
from live.messages import ProtocolError
from signaling.messages import CLOSE_TRY_AGAIN

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_SECONDS = 5.0


class LiveConsumer(AsyncJsonWebsocketConsumer):
    watching: set[int]

    async def connect(self) -> None:
        self.watching = set()
        await self.accept()
        user = self.scope["user"]
        # Permissions are read from the database.
        if not await database_sync_to_async(access.may_watch)(user):
            code = (
                messages.CLOSE_FORBIDDEN
                if user.is_authenticated
                else messages.CLOSE_UNAUTHENTICATED
            )
            await self.close(code=code)
            return
        try:
            async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
                await self._join_all()
        except Exception:
            logger.warning("live socket not joined: channel layer unreachable", exc_info=True)
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        calls = await database_sync_to_async(selectors.open_calls)()
        await self.send_json(messages.snapshot(calls=calls))

    async def _join_all(self) -> None:
        await self.channel_layer.group_add(broadcast.CALLS_GROUP, self.channel_name)
        # Groups first, then the read: a change in between arrives twice, never not at all.
        for conversation_id in await database_sync_to_async(selectors.open_call_ids)():
            await self._watch(conversation_id)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(broadcast.CALLS_GROUP, self.channel_name)
        for conversation_id in list(self.watching):
            await self._unwatch(conversation_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = messages.parse_frame(text_data)
            ended = await ending.end_by_staff(
                conversation_id=message.conversation_id, staff=self.scope["user"]
            )
            if not ended:
                raise ProtocolError("not_found", "There is no such call in progress.")
        except ProtocolError as exc:
            await self.send_json(messages.error(code=exc.code, message=exc.message))
        except Exception:
            logger.exception("live message failed", extra={"user": self.scope["user"].pk})
            await self.send_json(messages.error(code="server_error", message="Something failed."))

    # --- Channel-layer events -------------------------------------------------------------

    async def live_call(self, event: dict[str, Any]) -> None:
        """A call started, connected or ended: follow it (or stop) and show it as stored."""
        conversation_id = event["conversation_id"]
        call = await database_sync_to_async(selectors.call_state)(conversation_id)
        if call is None:
            return  # deleted meanwhile
        if selectors.is_open(call):
            await self._watch(conversation_id)
        else:
            await self._unwatch(conversation_id)
        await self.send_json(messages.call(call=call))

    async def live_turns(self, event: dict[str, Any]) -> None:
        turns = messages.turns(conversation_id=event["conversation_id"], turns=event["turns"])
        await self.send_json(turns)

    async def _watch(self, conversation_id: int) -> None:
        await self.channel_layer.group_add(broadcast.call_group(conversation_id), self.channel_name)
        self.watching.add(conversation_id)

    async def _unwatch(self, conversation_id: int) -> None:
        group = broadcast.call_group(conversation_id)
        await self.channel_layer.group_discard(group, self.channel_name)
        self.watching.discard(conversation_id)
