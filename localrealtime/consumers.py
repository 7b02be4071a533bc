"""WebSocket sessions (`?model=`) and sidebands to WebRTC calls (`?call_id=`).

Refusals are sent the way a client can read them: the socket is accepted, gets one `error`
event with OpenAI's code, and is closed with 4008 (daphne can only deny a handshake with a
bare 403, which would hide the reason; and it cannot send OpenAI's 1008, see `session.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from localrealtime import auth, config, runtime
from localrealtime.driver import SessionDriver
from localrealtime.events import error_event, new_id
from localrealtime.keys import store
from localrealtime.session import REFUSAL_CLOSE_CODE, RealtimeSession

_CLOSE = object()
logger = logging.getLogger(__name__)


class Refusal(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class RealtimeConsumer(AsyncWebsocketConsumer):
    driver: SessionDriver | None = None
    owns_slot = False

    async def connect(self) -> None:
        offered = self.scope.get("subprotocols") or []
        await self.accept("realtime" if "realtime" in offered else None)
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self._writer.add_done_callback(_log_failure)
        runtime.loop_lag.ensure_running()
        try:
            self._open(parse_qs(self.scope["query_string"].decode()))
        except (Refusal, config.ConfigError) as exc:
            self._enqueue(json.dumps(error_event(str(exc), code=exc.code)))
            self._close_soon(REFUSAL_CLOSE_CODE, exc.code)

    def _open(self, query: dict[str, list[str]]) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in self.scope["headers"]}
        if auth.is_beta_request(headers.get("openai-beta")):
            raise Refusal(
                "The beta Realtime interface has been retired.", "beta_api_shape_disabled"
            )
        header_key = auth.bearer_token(headers.get("authorization"))
        if ("model" in query) == ("call_id" in query):
            raise Refusal("Give exactly one of `model` or `call_id`.", "invalid_request")
        if "call_id" in query:
            self._attach(query["call_id"][0], header_key)
        else:
            key = header_key or auth.subprotocol_key(self.scope.get("subprotocols") or [])
            self._start(query["model"][0], key)

    def _attach(self, call_id: str, key: str | None) -> None:
        call = runtime.calls.get(call_id) if auth.is_server_key(key) else None
        if call is None:
            raise Refusal(f"Call '{call_id}' not found.", "call_id_not_found")
        self.driver = call.driver
        call.on_end.append(lambda: self._close_soon(1000, "call ended"))
        call.driver.listen(self._enqueue)

    def _start(self, model: str, key: str | None) -> None:
        session = self._session_for(model, key)
        if not runtime.slots().acquire():
            raise Refusal(
                "The local engine is carrying all the sessions it can.", "engine_at_capacity"
            )
        self.owns_slot = True
        session = {**session, "id": session.get("id") or new_id("sess")}
        core = RealtimeSession(session=session, transport="websocket")
        self.driver = SessionDriver(
            core,
            recognizer=runtime.recognizer(),
            max_seconds=settings.LOCAL_REALTIME_MAX_SESSION_SECONDS,
            on_close=self._close_soon,
        )
        self.driver.listen(self._enqueue)
        self.driver.start()

    def _session_for(self, model: str, key: str | None) -> dict[str, Any]:
        if auth.is_server_key(key):
            return config.default_session(model=model, voice=settings.REALTIME_VOICE)
        ephemeral = store.redeem(key, now=time.time()) if auth.is_ephemeral(key) else None
        if ephemeral is None:
            raise Refusal("Incorrect API key provided, or the key has expired.", "invalid_api_key")
        return ephemeral.session

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.driver is not None:
            self.driver.receive(text_data if text_data is not None else bytes_data or b"")

    async def disconnect(self, code: int) -> None:
        if self.driver is not None:
            self.driver.unlisten(self._enqueue)
            if self.owns_slot:
                self.driver.close()
                runtime.slots().release()
        self.driver, self.owns_slot = None, False
        if hasattr(self, "_writer"):
            self._writer.cancel()

    def _enqueue(self, message: str) -> None:
        self._outbox.put_nowait(message)

    def _close_soon(self, code: int = 1000, reason: str = "") -> None:
        self._outbox.put_nowait((_CLOSE, code, reason))

    async def _write(self) -> None:
        while True:
            message = await self._outbox.get()
            if isinstance(message, tuple):
                await self.close(code=message[1], reason=message[2][:120])
                return
            await self.send(text_data=message)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("WebSocket writer failed", exc_info=task.exception())
