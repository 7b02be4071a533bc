"""HTTP requests through the real ASGI application (voiceapp/asgi.py), as Daphne would send them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from channels.testing import HttpCommunicator

from voiceapp.asgi import application


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def get(path: str, *, headers: dict[str, str] | None = None, within: float = 5) -> Response:
    """GET `path` as an anonymous browser on http://testserver, answered `within` seconds."""
    raw_headers = [(b"host", b"testserver")]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    communicator = HttpCommunicator(application, "GET", path, headers=raw_headers)
    try:
        raw = await communicator.get_response(timeout=within)
    finally:
        await communicator.wait()
    return Response(
        status=raw["status"],
        # Lower-case names: ASGI servers may send either case.
        headers={k.decode().lower(): v.decode() for k, v in raw["headers"]},
        body=raw["body"],
    )
