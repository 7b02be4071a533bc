"""A stub Realtime upstream that answers at once, so a benchmark measures only the broker.

It speaks the endpoints, status codes and headers Voiceapp uses (docs: shared realtime-protocol
§1-2): `POST /v1/realtime/client_secrets` (200 JSON), `POST /v1/realtime/calls` in both forms
(multipart with a server key, or `application/sdp` with an ephemeral key; 201, answer SDP,
`Location`), and `POST /v1/realtime/calls/{id}/hangup` (200). It is NOT a realtime engine: the
answer SDP is fixed and no media flows.

It also counts TCP connections and requests, served as JSON at `GET /_stub/stats` (and zeroed by
`POST /_stub/reset`), so a benchmark can check that the broker reuses its upstream connections.

HTTP/1.1 is parsed by hand rather than through a framework: the stub shares two cores with the
server under test, and every microsecond it spends is charged to the broker's figures.

Run alone: `python -m bench.stub_upstream --port 0` prints `listening <port>` and serves until
stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

API_PREFIX = "/v1/realtime"
MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024

ANSWER_SDP = (
    "v=0\r\no=- 3928475610 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\na=msid-semantic:WMS *\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:stub\r\na=ice-pwd:stubstubstubstubstubstub\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
    "\r\na=setup:active\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:stub\r\na=ice-pwd:stubstubstubstubstubstub\r\na=setup:active\r\na=mid:1\r\n"
    "a=sctp-port:5000\r\n"
)

REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Counters:
    """What the stub has seen since start or the last reset."""

    connections: int = 0
    requests: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        return {"connections": self.connections, "requests": dict(self.requests)}


def error(status: int, code: str, message: str) -> Response:
    """The upstream's error shape (protocol §5)."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return json_response(status, body)


def json_response(status: int, payload: object) -> Response:
    return Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def authorized(request: Request) -> bool:
    # Both auth styles the upstream client may use: OpenAI's bearer, Azure's api-key.
    bearer = request.headers.get("authorization", "")
    has_bearer = bearer.startswith("Bearer ") and len(bearer) > len("Bearer ")
    return has_bearer or bool(request.headers.get("api-key"))


def client_secret(request: Request) -> Response:
    try:
        session = json.loads(request.body or b"{}").get("session") or {}
    except (ValueError, AttributeError):
        return error(400, "invalid_json", "The body is not a JSON object.")
    session = {**session, "id": "sess_" + secrets.token_hex(8), "object": "realtime.session"}
    key = {"value": "ek_" + secrets.token_hex(16), "expires_at": int(time.time()) + 600}
    return json_response(200, {**key, "session": session})


def call(request: Request) -> Response:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        has_offer = b'name="sdp"' in request.body
    else:
        has_offer = content_type.startswith("application/sdp") and request.body.startswith(b"v=")
    if not has_offer:
        return error(400, "invalid_offer", "No SDP offer in the request.")
    location = f"{API_PREFIX}/calls/rtc_{secrets.token_hex(12)}"
    headers = {"Content-Type": "application/sdp", "Location": location}
    return Response(201, ANSWER_SDP.encode(), headers)


def route(request: Request, counters: Counters) -> tuple[str, Response]:
    """The endpoint name (for the counters) and the response."""
    path = request.path.split("?", 1)[0]
    if path == "/_stub/stats":
        return "stats", json_response(200, counters.as_json())
    if path == "/_stub/reset":
        counters.connections, counters.requests = 0, Counter()
        return "reset", json_response(200, {})
    if request.method != "POST" or not path.startswith(API_PREFIX):
        return "unknown", error(404, "not_found", f"No route for {request.method} {path}.")
    if not authorized(request):
        return "unauthorized", error(401, "invalid_api_key", "Missing or malformed key.")
    if path == f"{API_PREFIX}/client_secrets":
        return "client_secrets", client_secret(request)
    if path == f"{API_PREFIX}/calls":
        return "calls", call(request)
    if path.startswith(f"{API_PREFIX}/calls/rtc_") and path.endswith("/hangup"):
        return "hangup", Response(200, b"", {"Content-Type": "application/json"})
    return "unknown", error(404, "call_id_not_found", "Unknown call.")


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while sum(map(len, chunks)) <= MAX_BODY:
        size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()  # the blank line after the last chunk (no trailers sent)
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    raise ValueError("body too large")


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request from a keep-alive connection, or None when the peer has closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    if len(head) > MAX_HEAD:
        raise ValueError("head too large")
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers = {}
    for line in filter(None, lines):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await read_chunked(reader)
    else:
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY:
            raise ValueError("body too large")
        body = await reader.readexactly(length) if length else b""
    return Request(method, path, headers, body)


def encode(response: Response, keep_alive: bool) -> bytes:
    headers = {**response.headers, "Content-Length": str(len(response.body))}
    headers["Connection"] = "keep-alive" if keep_alive else "close"
    head = f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Error')}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + response.body


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counters: Counters
) -> None:
    counters.connections += 1
    try:
        while (request := await read_request(reader)) is not None:
            endpoint, response = route(request, counters)
            counters.requests[endpoint] += 1
            keep_alive = request.headers.get("connection", "").lower() != "close"
            writer.write(encode(response, keep_alive))
            await writer.drain()
            if not keep_alive:
                break
    except (ValueError, ConnectionError, asyncio.IncompleteReadError):
        pass  # a malformed or vanished client only loses its own connection
    finally:
        writer.close()


async def serve(port: int) -> None:
    counters = Counters()
    server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, counters), "127.0.0.1", port, backlog=4096
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    # uvloop (installed by requirements-bench.txt) keeps the stub's own cost low.
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    run_loop(serve(parser.parse_args().port))
    sys.exit(0)


if __name__ == "__main__":
    main()
