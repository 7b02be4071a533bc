"""A tiny real HTTP server standing in for a misbehaving upstream (401, 429, 500, garbage, hang).

It speaks just enough HTTP/1.1 for httpx and the websockets client, answered from a table of
canned responses keyed by path: one request per connection, or several with `keep_alive`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Canned:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False
    raw: bytes | None = None  # sent as it is instead of a response (garbage), then closed


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class StubUpstream:
    def __init__(self, *, keep_alive: bool = False) -> None:
        self.routes: dict[str, Canned] = {}
        self.seen: list[Seen] = []
        self.keep_alive = keep_alive
        self.connections = 0
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/v1"

    def answer(self, path: str, canned: Canned) -> None:
        self.routes[f"/v1{path}"] = canned

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                seen = await _read_request(reader)
                self.seen.append(seen)
                canned = self.routes.get(seen.path.split("?")[0], Canned(404, body=b"{}"))
                if canned.hang:
                    await asyncio.sleep(3600)
                writer.write(canned.raw if canned.raw is not None else self._response(canned))
                await writer.drain()
                if not self.keep_alive or canned.raw is not None:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _response(self, canned: Canned) -> bytes:
        lines = [f"HTTP/1.1 {canned.status} Stub"]
        connection = "keep-alive" if self.keep_alive else "close"
        headers = {"content-length": str(len(canned.body)), "connection": connection}
        lines += [f"{name}: {value}" for name, value in (headers | canned.headers).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + canned.body


async def _read_request(reader: asyncio.StreamReader) -> Seen:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin1").split("\r\n")
    method, path, _ = head[0].split(" ", 2)
    headers = {
        name.strip().lower(): value.strip()
        for name, value in (line.split(":", 1) for line in head[1:] if ":" in line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Seen(method, path, headers, body)
