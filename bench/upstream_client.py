"""The upstream client's own cost: CPU per request Voiceapp makes to the Realtime API, by transport.

Runs Voiceapp's `upstream.realtime` functions in this process (`create_call`: a multipart offer,
201 with the answer SDP; `create_client_secret`: JSON, 200) against the stub upstream
(bench/stub_upstream.py, its own process) with N requests in flight at once, once per transport
under the same httpx client:
- aiohttp: httpx-aiohttp's transport on aiohttp's pool, what Voiceapp uses;
- httpcore: httpx's default transport (httpcore over anyio), one pool of as many connections;
and, as the floor, the same offer posted with aiohttp alone (no httpx above it).
No Daphne, no sockets to a browser, no server sharing the process: the figure is what the client
library costs per request, which bench.broker sees inside the broker's overhead.

Run: `python -m bench.upstream_client [--requests 1000] [--levels 1 200]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import servers
from bench.clients import OFFER_SDP, run_async
from bench.figures import table
from bench.paths import SESSION_JSON

LEVELS = (1, 200)
WARM_UP = 100


def setup_django(stub: servers.Server) -> None:
    """Voiceapp's settings, pointed at the stub (no database is touched)."""
    os.environ.update(servers.upstream_env(stub) | {"LOG_LEVEL": "WARNING", "DEBUG": "0"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
    import django

    django.setup()


def httpcore_client() -> Any:
    """httpx's default transport with Voiceapp's timeouts and pool size."""
    import httpx

    from upstream import realtime

    size = realtime.MAX_CONNECTIONS
    return httpx.AsyncClient(
        timeout=realtime.http_timeout(),
        limits=httpx.Limits(
            max_connections=size,
            max_keepalive_connections=size,
            keepalive_expiry=realtime.KEEPALIVE_SECONDS,
        ),
        follow_redirects=False,
    )


async def timed(
    request: Callable[[], Awaitable[object]], total: int, level: int
) -> tuple[float, float]:
    """CPU and wall seconds per request for `total` requests, `level` in flight at a time."""

    async def rounds(count: int) -> None:
        for _ in range(max(1, count // level)):
            await asyncio.gather(*(request() for _ in range(level)))

    await rounds(max(WARM_UP, level))  # connections opened, code paths loaded
    done = max(1, total // level) * level
    cpu, wall = time.process_time(), time.perf_counter()
    await rounds(total)
    return (time.process_time() - cpu) / done, (time.perf_counter() - wall) / done


async def through_voiceapp(
    transport: str, kind: str, total: int, level: int
) -> tuple[float, float]:
    from upstream import realtime, session_config

    original = realtime.new_client
    if transport == "httpcore":
        realtime.new_client = httpcore_client
    config = session_config.build(voice=session_config.choose_voice(None))
    if kind == "offer":
        request = lambda: realtime.create_call(OFFER_SDP, config)  # noqa: E731
    else:
        request = lambda: realtime.create_client_secret(config, 60)  # noqa: E731
    try:
        return await timed(request, total, level)
    finally:
        await realtime.close_client()
        realtime.new_client = original


async def aiohttp_alone(base: str, total: int, level: int) -> tuple[float, float]:
    import aiohttp

    from upstream import realtime

    url = f"{base}/v1/realtime/calls"
    headers = {"Authorization": f"Bearer {servers.STUB_KEY}"}
    connector = aiohttp.TCPConnector(limit=realtime.MAX_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def offer() -> bytes:
            form = aiohttp.FormData()
            form.add_field("sdp", OFFER_SDP, content_type="application/sdp")
            form.add_field("session", SESSION_JSON, content_type="application/json")
            async with session.post(url, data=form, headers=headers) as response:
                if response.status != 201:
                    raise RuntimeError(f"the stub answered {response.status}")
                return await response.read()

        return await timed(offer, total, level)


HEADERS = [
    "request", "in flight", "transport", "requests", "client CPU µs/request",
    "wall µs/request", "CPU ÷ aiohttp transport",
]  # fmt: skip


async def measure(base: str, options: argparse.Namespace) -> list[list[object]]:
    rows: list[list[object]] = []
    for kind in ("offer", "key"):
        for level in options.levels:
            found = {
                transport: await through_voiceapp(transport, kind, options.requests, level)
                for transport in ("aiohttp", "httpcore")
            }
            if kind == "offer":
                found["aiohttp alone (no httpx)"] = await aiohttp_alone(
                    base, options.requests, level
                )
            ours = found["aiohttp"][0]
            for transport, (cpu, wall) in found.items():
                name = "create_call" if kind == "offer" else "create_client_secret"
                rows.append(
                    [name, level, transport, options.requests, f"{cpu * 1e6:.0f}",
                     f"{wall * 1e6:.0f}", f"{cpu / ours:.2f}x"]
                )  # fmt: skip
    return rows


def run(options: argparse.Namespace) -> str:
    with servers.workdir(options) as folder, servers.stub_upstream(Path(folder)) as stub:
        setup_django(stub)
        rows = run_async(measure(stub.base, options))
    title = "Upstream requests from Voiceapp's client, by transport (stub upstream)"
    return table(title, HEADERS, rows)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="CPU per upstream request, by transport.")
    parser.add_argument("--requests", type=int, default=1000, help="per transport and level")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    servers.add_server_options(parser)
    return parser


if __name__ == "__main__":
    from bench.figures import print_tables

    print_tables(run, parser)
