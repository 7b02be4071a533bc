"""Stand-ins for the browser pages over real sockets (the `websockets` library): the Talk page's
signaling socket with its outbox, and the staff Live page's socket. Both reconnect, as the
pages do, when their socket drops."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.engine.client import Caller

RECONNECT_SECONDS = 0.5


class Socket:
    """A socket that keeps reconnecting to `url` (as long as it runs) and queues what arrives."""

    def __init__(self, url: str, origin: str, cookie: str) -> None:
        self.url, self.origin, self.cookie = url, origin, cookie
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.connection: ClientConnection | None = None
        self.close_codes: list[int | None] = []
        self.connections = 0
        # What happened, in order (connects, closes, messages by type): shown when a test fails.
        self.trail: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                async with websockets.connect(
                    self.url,
                    origin=self.origin,  # type: ignore[arg-type]
                    additional_headers={"Cookie": f"sessionid={self.cookie}"},
                ) as connection:
                    self.connection = connection
                    self.connections += 1
                    self._note("open")
                    await self.on_open()
                    async for frame in connection:
                        await self.on_message(json.loads(frame))
            except (OSError, websockets.WebSocketException):
                pass  # refused, or closed abnormally: reconnect all the same
            if self.connection is not None:
                self.close_codes.append(self.connection.close_code)
                self._note(f"closed {self.connection.close_code}")
            self.connection = None
            await asyncio.sleep(RECONNECT_SECONDS)

    async def on_open(self) -> None:
        return None

    async def on_message(self, message: dict[str, Any]) -> None:
        detail = message.get("code") or message.get("seq", "")
        self._note(f"got {message['type']} {detail}".rstrip())
        self.inbox.put_nowait(message)

    def _note(self, what: str) -> None:
        self.trail.append(f"{time.monotonic():.2f} {what}")

    async def send(self, message: dict[str, Any]) -> bool:
        if self.connection is None:
            return False
        try:
            await self.connection.send(json.dumps(message))
        except websockets.ConnectionClosed:
            return False
        self._note(f"sent {message['type']} {message.get('seq', '')}".rstrip())
        return True

    async def expect(self, message_type: str, within: float = 30, **match: Any) -> dict[str, Any]:
        """The next message of `message_type` (with fields equal to `match`); others are skipped."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {message_type} {match} within {within} s")
            try:
                message = await asyncio.wait_for(self.inbox.get(), remaining)
            except TimeoutError:
                continue
            if message["type"] == message_type and all(
                message.get(k) == v for k, v in match.items()
            ):
                return message

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.connection is not None:
            await self.connection.close()


class TalkTab(Socket):
    """The Talk page: relays the call's data-channel events in numbered batches kept until
    acked, and after a reconnect resumes its call and resends what was not acked."""

    def __init__(self, origin: str, ws: str, cookie: str) -> None:
        super().__init__(f"{ws}/ws/signaling/", origin, cookie)
        self.conversation_id: int | None = None
        self.pending: dict[int, list[dict[str, Any]]] = {}
        self.relay_types: set[str] = set()
        self._next_seq = 0
        self._relayed = 0

    async def on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "hello":
            self.relay_types = set(message["relay_types"])
            if self.conversation_id is not None:
                await self.send({"type": "call.resume", "conversation_id": self.conversation_id})
        elif kind == "call.resumed":
            for seq, events in sorted(self.pending.items()):
                await self.send({"type": "events.relay", "seq": seq, "events": events})
        elif kind == "events.ack":
            self.pending.pop(message["seq"], None)
        await super().on_message(message)

    async def start_call(self, caller: Caller) -> int:
        await self.send({"type": "call.start", "mode": "brokered"})
        self.conversation_id = (await self.expect("call.started"))["conversation_id"]
        await self.send({"type": "call.offer", "sdp": await caller.offer()})
        await caller.accept((await self.expect("call.answer"))["sdp"])
        return self.conversation_id

    async def relay_from(self, caller: Caller) -> None:
        """Relay the caller's new events every 250 ms, as the page does (run as a task)."""
        while True:
            fresh = [e for e in caller.events[self._relayed :] if e["type"] in self.relay_types]
            self._relayed = len(caller.events) if self.relay_types else self._relayed
            if fresh:
                seq, self._next_seq = self._next_seq, self._next_seq + 1
                self.pending[seq] = fresh
                await self.send({"type": "events.relay", "seq": seq, "events": fresh})
            await asyncio.sleep(0.25)


class LivePage(Socket):
    def __init__(self, origin: str, ws: str, cookie: str) -> None:
        super().__init__(f"{ws}/ws/live/", origin, cookie)

    async def turn_texts(self, conversation_id: int, within: float = 30) -> dict[str, str]:
        """Turns shown for the call once one user turn and one assistant turn have words."""
        shown: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + within
        while {t["role"] for t in shown.values() if t["text"]} != {"user", "assistant"}:
            message = await self.expect_any(deadline)
            for turn in _turns_in(message, conversation_id):
                shown[turn["item_id"]] = turn
        return {t["role"]: t["text"] for t in shown.values() if t["text"]}

    async def expect_any(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("the Live page did not show the call's turns in time")
        return await asyncio.wait_for(self.inbox.get(), remaining)


def _turns_in(message: dict[str, Any], conversation_id: int) -> list[dict[str, Any]]:
    kind = message["type"]
    if kind == "live.turns" and message["conversation_id"] == conversation_id:
        return message["turns"]
    if kind == "live.call" and message["call"]["conversation_id"] == conversation_id:
        return message["call"]["turns"]
    if kind == "live.snapshot":
        calls = [c for c in message["calls"] if c["conversation_id"] == conversation_id]
        return calls[0]["turns"] if calls else []
    return []
