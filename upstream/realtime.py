"""REST calls to the Realtime API through a few shared httpx clients.

The clients are created lazily, once per event loop (an httpx client is bound to the loop that
opened its connections), with explicit timeouts and connection reuse. There are `SHARDS` of them
with `SHARD_CONNECTIONS` connections each, a request going to the least busy: httpcore's pool
walks all its connections, for each idle one, whenever a request starts or ends (quadratic in
the pool's size: at 200 calls in flight on one 256-connection client it was half the process's
CPU, bench.broker), so small pools side by side cost far less than one large one.

Base URL and auth style come from settings: OpenAI and the local engine take `Authorization:
Bearer`, Azure takes `api-key` and refuses the multipart form, so for Azure `create_call` mints an
ephemeral key first.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import ssl
import weakref
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from upstream.errors import UpstreamError, bad_response, from_status, from_transport

logger = logging.getLogger(__name__)

CALL_ID_RE = re.compile(r"rtc_[A-Za-z0-9_-]{1,120}")
MAX_ANSWER_SDP_BYTES = 64 * 1024
MAX_JSON_BYTES = 256 * 1024

# Room for issue 6's 200 calls in flight at once, with some to spare, without queueing. Small
# pools: each request's start and end polls every idle connection of its pool (httpcore's
# `has_expired`, a syscall each): 16 x 16 spent ~15% of the CPU at 200 offers in flight there.
SHARDS = 64
SHARD_CONNECTIONS = 4


class _Shards:
    """One loop's clients, with how many requests each has in flight."""

    def __init__(self) -> None:
        self.clients = [new_client() for _ in range(SHARDS)]
        self.busy = [0] * SHARDS

    def least_busy(self) -> int:
        return self.busy.index(min(self.busy))


_shards: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shards] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class ClientSecret:
    value: str
    expires_at: int
    session_id: str


@dataclass(frozen=True)
class Call:
    answer_sdp: str
    call_id: str


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client, as httpx builds its default (certifi's roots, or
    SSL_CERT_FILE / SSL_CERT_DIR): built per client it cost 56 ms each, 3.6 s for a loop's
    SHARDS clients on its first request."""
    return httpx.create_ssl_context()


def new_client() -> httpx.AsyncClient:
    """The client factory (tests replace it to inject an httpx.MockTransport)."""
    timeout = settings.REALTIME_HTTP_TIMEOUT
    return httpx.AsyncClient(
        verify=_tls(),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5)),
        # Keep every connection the pool opens: with fewer kept than opened, a burst of calls
        # paid a new TCP (and TLS) handshake per offer (bench.broker: 0% reuse at 200 in flight).
        limits=httpx.Limits(
            max_connections=SHARD_CONNECTIONS,
            max_keepalive_connections=SHARD_CONNECTIONS,
            keepalive_expiry=60,
        ),
        follow_redirects=False,
    )


def _loop_shards() -> _Shards:
    loop = asyncio.get_running_loop()
    shards = _shards.get(loop)
    if shards is None or any(each.is_closed for each in shards.clients):
        shards = _shards[loop] = _Shards()
    return shards


def clients() -> list[httpx.AsyncClient]:
    """This loop's clients."""
    return _loop_shards().clients


async def close_client() -> None:
    """Close this loop's clients (at shutdown, or between tests)."""
    existing = _shards.pop(asyncio.get_running_loop(), None)
    if existing is not None:
        await asyncio.gather(*(each.aclose() for each in existing.clients))


def auth_headers(key: str) -> dict[str, str]:
    if settings.OPENAI_API_TYPE == "azure" and key == settings.REALTIME_API_KEY:
        return {"api-key": key}
    return {"Authorization": f"Bearer {key}"}


async def _post(path: str, *, key: str, **kwargs: Any) -> httpx.Response:
    url = f"{settings.OPENAI_BASE_URL}{path}"
    headers = auth_headers(key) | kwargs.pop("headers", {})
    shards = _loop_shards()
    shard = shards.least_busy()
    shards.busy[shard] += 1
    client = shards.clients[shard]
    try:
        request = client.build_request("POST", url, headers=headers, **kwargs)
        # A multipart form (an offer) is a stream that went out part by part, each piece its own
        # socket write through anyio: a third of the request's CPU. Read, it is one body.
        request.read()
        response = await client.send(request)
    except httpx.TransportError as exc:
        logger.warning("upstream transport error", extra={"path": path, "error": repr(exc)})
        raise from_transport(exc) from exc
    finally:
        shards.busy[shard] -= 1
    if not response.is_success:
        logger.warning(
            "upstream refused",
            extra={"path": path, "status": response.status_code, "body": response.text[:500]},
        )
        raise from_status(response)
    return response


def _json_body(response: httpx.Response) -> dict[str, Any]:
    if "json" not in response.headers.get("content-type", ""):
        raise bad_response("not JSON", response.status_code)
    if len(response.content) > MAX_JSON_BYTES:
        raise bad_response("too large", response.status_code)
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise bad_response("malformed JSON", response.status_code) from exc
    if not isinstance(body, dict):
        raise bad_response("not an object", response.status_code)
    return body


async def create_client_secret(session_config: dict[str, Any], ttl: int) -> ClientSecret:
    """Mint an ephemeral key bound to `session_config`, valid for `ttl` seconds."""
    payload = {
        "expires_after": {"anchor": "created_at", "seconds": ttl},
        "session": session_config,
    }
    response = await _post("/realtime/client_secrets", key=settings.REALTIME_API_KEY, json=payload)
    body = _json_body(response)
    value, expires_at = body.get("value"), body.get("expires_at")
    if not isinstance(value, str) or not value or not isinstance(expires_at, int):
        raise bad_response("no key in the answer", response.status_code)
    session = body.get("session") if isinstance(body.get("session"), dict) else {}
    return ClientSecret(value, expires_at, str(session.get("id", ""))[:100])


def _parse_call(response: httpx.Response) -> Call:
    if response.status_code != 201:
        raise bad_response(f"status {response.status_code}", response.status_code)
    if not response.headers.get("content-type", "").startswith("application/sdp"):
        raise bad_response("not SDP", response.status_code)
    if len(response.content) > MAX_ANSWER_SDP_BYTES:
        raise bad_response("SDP too large", response.status_code)
    sdp = response.content.decode("utf-8", errors="replace")
    if not sdp.startswith("v=0"):
        raise bad_response("malformed SDP", response.status_code)
    call_id = response.headers.get("location", "").rstrip("/").rsplit("/", 1)[-1]
    if not CALL_ID_RE.fullmatch(call_id):
        raise bad_response("no call id", response.status_code)
    return Call(sdp, call_id)


async def create_call(offer_sdp: str, session_config: dict[str, Any]) -> Call:
    """Broker a WebRTC call: post the browser's offer, return the answer SDP and the call id."""
    if settings.OPENAI_API_TYPE == "azure":
        return await _create_call_with_ephemeral_key(offer_sdp, session_config)
    files = {
        "sdp": (None, offer_sdp, "application/sdp"),
        "session": (None, json.dumps(session_config), "application/json"),
    }
    response = await _post("/realtime/calls", key=settings.REALTIME_API_KEY, files=files)
    return _parse_call(response)


async def _create_call_with_ephemeral_key(offer_sdp: str, session_config: dict[str, Any]) -> Call:
    # Azure refuses multipart with the resource key; the minted key never leaves the server.
    secret = await create_client_secret(session_config, settings.REALTIME_EPHEMERAL_KEY_TTL)
    response = await _post(
        "/realtime/calls",
        key=secret.value,
        content=offer_sdp.encode(),
        headers={"Content-Type": "application/sdp"},
    )
    return _parse_call(response)


async def hangup(call_id: str) -> None:
    """End a call upstream. A call the upstream no longer knows counts as already ended."""
    if not CALL_ID_RE.fullmatch(call_id):
        raise ValueError(f"not a call id: {call_id!r}")
    try:
        await _post(f"/realtime/calls/{call_id}/hangup", key=settings.REALTIME_API_KEY)
    except UpstreamError as exc:
        if exc.status != 404:
            raise
