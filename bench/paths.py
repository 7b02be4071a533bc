"""The ways a browser can get an SDP answer or an ephemeral key, each measured the same way.

A path prepares a round (untimed: open sockets, start calls), hands back the operations to time
(one per call in flight), and finishes the round (untimed: end the calls). Every path posts to the
same stub upstream, so the differences between them are the brokers' own cost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from bench.clients import (
    OFFER_SDP,
    RawHttp,
    SignalingSocket,
    close_sockets,
    encode_post,
    expect_status,
    multipart,
    open_sockets,
    timed,
)
from bench.servers import STUB_KEY, Server

Operation = Callable[[], Awaitable[object]]

SESSION_CONFIG = {
    "type": "realtime",
    "model": "gpt-realtime-2.1",
    "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}},
}
SESSION_JSON = json.dumps(SESSION_CONFIG)


class Path(Protocol):
    name: str
    server: Server  # whose CPU time the burst is charged to

    async def prepare(self, concurrency: int) -> list[Operation]: ...

    async def finish(self) -> None: ...

    async def open(self, count: int) -> None:
        """Be ready for `count` workers (sockets opened, untimed)."""

    async def cycle(self, worker: int) -> float:
        """One whole call for worker `worker` (set up, timed part, ended); the timed seconds."""
        ...

    async def close(self) -> None: ...


class HttpPath:
    """A plain HTTP POST of one pre-encoded request: to the upstream, or to an alternative."""

    def __init__(self, name: str, server: Server, request: bytes, status: int) -> None:
        self.name, self.request, self.status = name, request, status
        self.server, self.client = server, RawHttp(server)

    async def prepare(self, concurrency: int) -> list[Operation]:
        return [self.post] * concurrency

    async def post(self) -> None:
        await expect_status(self.client, self.request, self.status)

    async def cycle(self, worker: int) -> float:
        return await timed(self.post)

    async def open(self, count: int) -> None:
        pass  # connections are opened on demand and kept

    async def finish(self) -> None:
        pass  # nothing to end: an HTTP broker forgets the call once it has answered

    async def close(self) -> None:
        await self.client.close()


AUTH = {"Authorization": f"Bearer {STUB_KEY}"}


def direct_offer(upstream: Server) -> HttpPath:
    """The post a broker makes, sent by the client itself (multipart, server key)."""
    body, content_type = multipart(
        {"sdp": ("application/sdp", OFFER_SDP), "session": ("application/json", SESSION_JSON)}
    )
    headers = {**AUTH, "Content-Type": content_type}
    request = encode_post(upstream, "/v1/realtime/calls", body, headers)
    return HttpPath("direct to upstream", upstream, request, 201)


def direct_key(upstream: Server) -> HttpPath:
    body = json.dumps({"session": SESSION_CONFIG}).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    request = encode_post(upstream, "/v1/realtime/client_secrets", body, headers)
    return HttpPath("direct to upstream", upstream, request, 200)


def proxy_offer(broker: Server) -> HttpPath:
    headers = {"Content-Type": "application/sdp"}
    request = encode_post(broker, "/session", OFFER_SDP.encode(), headers)
    return HttpPath(broker.name, broker, request, 201)


def proxy_key(broker: Server) -> HttpPath:
    return HttpPath(broker.name, broker, encode_post(broker, "/token", b"", {}), 200)


class VoiceappPath:
    """Calls over Voiceapp's signaling sockets: one socket per call in flight, kept across rounds.

    Each round starts a call on every socket (`call.start`), times `timed_request`, then ends the
    calls (`call.end`), which also hangs them up upstream, outside the timed part.
    """

    def __init__(
        self,
        server: Server,
        session_keys: Sequence[str],
        mode: str,
        offer: str = OFFER_SDP,
        name: str = "voiceapp",
    ) -> None:
        self.server, self.session_keys, self.mode, self.offer = server, session_keys, mode, offer
        self.name = name
        self.sockets: list[SignalingSocket] = []
        self.active: list[SignalingSocket] = []

    async def open(self, count: int) -> None:
        if len(self.sockets) < count:
            more = count - len(self.sockets)
            self.sockets += await open_sockets(self.server, self.session_keys, more)

    async def prepare(self, concurrency: int) -> list[Operation]:
        await self.open(concurrency)
        self.active = self.sockets[:concurrency]
        # A round sends call.start (+ call.offer) + call.end on each socket.
        await asyncio.gather(*(s.reserve(3 if self.mode == "brokered" else 2) for s in self.active))
        if self.mode == "brokered":
            await asyncio.gather(*(self.start(socket) for socket in self.active))
        return [self.operation(socket) for socket in self.active]

    async def start(self, socket: SignalingSocket) -> dict[str, Any]:
        return await socket.request({"type": "call.start", "mode": self.mode}, "call.started")

    def operation(self, socket: SignalingSocket) -> Operation:
        if self.mode == "brokered":
            offer = {"type": "call.offer", "sdp": self.offer}
            return lambda: socket.request(offer, "call.answer")
        # Direct mode: the key is minted by `call.start` and arrives as `call.key`.
        return lambda: socket.request({"type": "call.start", "mode": "direct"}, "call.key")

    async def finish(self) -> None:
        end = {"type": "call.end", "reason": "bench"}
        await asyncio.gather(*(socket.request(end, "call.ended") for socket in self.active))

    async def cycle(self, worker: int) -> float:
        socket = self.sockets[worker]
        await socket.reserve(3 if self.mode == "brokered" else 2)
        if self.mode == "brokered":
            await self.start(socket)
        took = await timed(self.operation(socket))
        await socket.request({"type": "call.end", "reason": "bench"}, "call.ended")
        return took

    async def close(self) -> None:
        await close_sockets(self.sockets)
