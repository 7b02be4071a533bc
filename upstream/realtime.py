"""REST calls to the Realtime API through one shared httpx client per event loop.

The client is created lazily, once per event loop (its connections belong to the loop that
opened them), with explicit timeouts and connection reuse. Under httpx's API it runs on
aiohttp's connection pool (httpx-aiohttp's transport, the one the official OpenAI SDK offers as
`DefaultAioHttpClient`): the request itself is httpx's, the socket work aiohttp's C parser.
bench.upstream_client measured why: an offer posted cost 618 us of CPU through httpcore and
anyio, 441 through aiohttp's transport (one at a time); and httpcore's pool polls every idle
connection at each request's start and end (30 ms of CPU per offer at 200 in flight on one pool,
which took sixty-four small clients side by side to keep down), where aiohttp's pool takes the
last idle connection for the host (311 us at 200 in flight).

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

import aiohttp
import httpx
from django.conf import settings
from httpx_aiohttp import AiohttpTransport

from upstream.errors import UpstreamError, bad_response, from_status, from_transport

logger = logging.getLogger(__name__)

CALL_ID_RE = re.compile(r"rtc_[A-Za-z0-9_-]{1,120}")
MAX_ANSWER_SDP_BYTES = 64 * 1024
MAX_JSON_BYTES = 256 * 1024

# Room for issue 6's 200 calls in flight at once, with some to spare, without queueing.
MAX_CONNECTIONS = 256
# Idle connections are kept this long: with fewer kept than opened, a burst of calls paid a new
# TCP (and TLS) handshake per offer (bench.broker: 0% reuse at 200 in flight).
KEEPALIVE_SECONDS = 60

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


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
    """One TLS context for every loop's client, as httpx builds its default (certifi's roots, or
    SSL_CERT_FILE / SSL_CERT_DIR): it takes 56 ms to build."""
    return httpx.create_ssl_context()


def _session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS, ssl=_tls()
    )
    # httpx keeps the cookies (it reads the response's headers); aiohttp need not as well.
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def http_timeout() -> httpx.Timeout:
    """REALTIME_HTTP_TIMEOUT for a whole request, at most 5 s of it to connect."""
    timeout = settings.REALTIME_HTTP_TIMEOUT
    return httpx.Timeout(timeout, connect=min(timeout, 5))


def new_client() -> httpx.AsyncClient:
    """The client factory (tests replace it to inject an httpx.MockTransport)."""
    return httpx.AsyncClient(
        # The session is made at the first request, inside the loop it will belong to.
        transport=AiohttpTransport(client=_session),
        timeout=http_timeout(),
        follow_redirects=False,
    )


def client() -> httpx.AsyncClient:
    """This loop's client."""
    loop = asyncio.get_running_loop()
    existing = _clients.get(loop)
    if existing is None or existing.is_closed:
        existing = _clients[loop] = new_client()
    return existing


async def close_client() -> None:
    """Close this loop's client (at shutdown, or between tests)."""
    existing = _clients.pop(asyncio.get_running_loop(), None)
    if existing is not None:
        await existing.aclose()


def auth_headers(key: str) -> dict[str, str]:
    if settings.OPENAI_API_TYPE == "azure" and key == settings.REALTIME_API_KEY:
        return {"api-key": key}
    return {"Authorization": f"Bearer {key}"}


async def _post(path: str, *, key: str, **kwargs: Any) -> httpx.Response:
    url = f"{settings.OPENAI_BASE_URL}{path}"
    headers = auth_headers(key) | kwargs.pop("headers", {})
    upstream = client()
    try:
        request = upstream.build_request("POST", url, headers=headers, **kwargs)
        # A multipart form (an offer) is a stream the transport would send part by part, a
        # socket write each. Read, it is one body.
        request.read()
        response = await upstream.send(request)
    except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
        # aiohttp's own errors too: the transport passes on those it has no httpx name for (a
        # malformed status line, say), and an upstream that fails must end in an UpstreamError.
        logger.warning("upstream transport error", extra={"path": path, "error": repr(exc)})
        raise from_transport(exc) from exc
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
