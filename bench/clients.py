"""The benchmark's side of each connection: a signed-in browser tab's signaling socket (protocol
v1, signaling/messages.py) and plain HTTP posts, plus the timing helpers shared by the scripts.

The client runs in the benchmark's own process; its cost is in every path's figures alike, which
is why overheads are reported as differences from the direct path measured by the same client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.servers import HOST, Server
from bench.stub_upstream import read_chunked

MESSAGE_TIMEOUT = 30.0
CONNECT_PARALLEL = 50
RATE_MARGIN = 0.8

# A browser's offer (Chromium, audio + data channel), so the bytes on the wire are realistic.
OFFER_SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS 5d3e1f\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Xk2j\r\na=ice-pwd:q8Zp0mG0vJd1yYkq3mZp0aBc\r\n"
    "a=ice-options:trickle\r\na=fingerprint:sha-256 "
    "6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:D6:BC"
    "\r\na=setup:actpass\r\na=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=sendrecv\r\na=msid:5d3e1f 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\r\na=rtcp-mux\r\n"
    "a=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\na=ssrc:1791640000 cname:bench\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Xk2j\r\na=ice-pwd:q8Zp0mG0vJd1yYkq3mZp0aBc\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:D6:BC"
    "\r\na=setup:actpass\r\na=mid:1\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n"
)


class ServerRefused(RuntimeError):
    """The server answered with an `error` message (or an HTTP error) instead of the result."""


class SignalingSocket:
    """One browser tab's `/ws/signaling/` socket, signed in with a session cookie.

    It keeps the server's per-socket rate limit (announced in `hello`) as a polite browser does:
    `reserve` waits, outside any timed part, until the next messages are within the limit.
    """

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.rate, self.tokens = 1.0, 1.0
        self.burst = 1.0
        self.refilled = time.monotonic()

    @classmethod
    async def open(cls, server: Server, session_key: str) -> SignalingSocket:
        socket = cls(
            await connect(
                f"ws://127.0.0.1:{server.port}/ws/signaling/",
                origin=server.base,  # type: ignore[arg-type]
                additional_headers={"Cookie": f"sessionid={session_key}"},
                open_timeout=MESSAGE_TIMEOUT,
                max_queue=None,
            )
        )
        limits = (await socket.expect("hello"))["limits"]
        # A margin below the server's figures: the two clocks do not start together.
        socket.rate = limits["rate_per_second"] * RATE_MARGIN
        socket.burst = socket.tokens = limits["rate_burst"] * RATE_MARGIN
        return socket

    async def reserve(self, messages: int) -> None:
        """Wait until `messages` more messages keep within the rate limit, and count them."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < messages:
            await asyncio.sleep((messages - self.tokens) / self.rate)
            self.tokens, self.refilled = float(messages), time.monotonic()
        self.tokens -= messages

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def expect(self, kind: str) -> dict[str, Any]:
        """The next message of type `kind`, skipping others; an `error` message raises."""
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            while True:
                message = json.loads(await self.connection.recv())
                if message.get("type") == kind:
                    return message
                if message.get("type") == "error":
                    raise ServerRefused(f"{message.get('code')}: {message.get('message')}")

    async def request(self, message: dict[str, Any], reply: str) -> dict[str, Any]:
        await self.send(message)
        return await self.expect(reply)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # a socket the server already closed is closed
            await self.connection.close()


async def open_sockets(server: Server, keys: Sequence[str], count: int) -> list[SignalingSocket]:
    """`count` sockets, spread over the session keys, opened at most CONNECT_PARALLEL at a time."""
    gate = asyncio.Semaphore(CONNECT_PARALLEL)

    async def one(index: int) -> SignalingSocket:
        async with gate:
            return await SignalingSocket.open(server, keys[index % len(keys)])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def close_sockets(sockets: Sequence[SignalingSocket]) -> None:
    await asyncio.gather(*(socket.close() for socket in sockets))


class RawHttp:
    """A keep-alive HTTP/1.1 client with pre-encoded requests: one connection per request in
    flight, reused afterwards. Much cheaper per request than httpx, so the client's own cost
    hardly shows in the figures it takes.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """An idle connection the server has not closed, else a new one; True when reused."""
        while self.idle:
            reader, writer = self.idle.pop()
            # Servers close connections idle past their keep-alive timeout (5 s for Node and
            # uvicorn), as browsers and httpx expect: skip those, as they do.
            if not (reader.at_eof() or writer.is_closing()):
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(HOST, self.server.port)
        return reader, writer, False

    async def send(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """The status, headers (lower-case names) and body of the answer to one request."""
        reader, writer, reused = await self.connection()
        writer.write(request)
        try:
            async with asyncio.timeout(MESSAGE_TIMEOUT):
                status, headers, body = await read_response(reader)
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            if not reused or getattr(exc, "partial", b""):
                raise
            # Closed (or reset) by the server just as it was reused: once more on a new
            # connection, as a browser does.
            writer.close()
            return await self.send(request)
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, headers, body

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in filter(None, lines):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split(" ", 2)[1]), headers, body


def encode_post(server: Server, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}:{server.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def multipart(fields: dict[str, tuple[str, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body of `name: (content type, value)`, and its content type."""
    boundary = "voiceappbench" + "0" * 16
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n{value}\r\n"
        for name, (kind, value) in fields.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def expect_status(client: RawHttp, request: bytes, expected: int) -> dict[str, str]:
    """Send `request`; its answer's headers when the status is `expected`, else raise."""
    status, headers, body = await client.send(request)
    if status != expected:
        raise ServerRefused(f"HTTP {status}: {body[:200]!r}")
    return headers


async def timed(operation: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await operation()
    return time.perf_counter() - started


async def burst(operations: Sequence[Callable[[], Awaitable[object]]]) -> tuple[list[float], float]:
    """Run the operations all at once; their latencies (s) and the burst's wall time (s)."""
    started = time.perf_counter()
    latencies = await asyncio.gather(*(timed(operation) for operation in operations))
    return list(latencies), time.perf_counter() - started


def run_async(main: Awaitable[Any]) -> Any:
    """Run the client's event loop, on uvloop when installed, so the client costs less CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return uvloop.run(main)  # type: ignore[arg-type]
