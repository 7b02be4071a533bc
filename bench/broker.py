"""Signaling overhead: SDP offer → answer, and ephemeral-key issuance, through each broker.

Paths, all posting to one stub upstream that answers at once (bench/stub_upstream.py):
- direct to upstream: the client posts straight to the stub (the floor: no broker at all);
- voiceapp: a signed-in signaling socket on a real Daphne process (call.offer → call.answer;
  call.start in direct mode → call.key), SQLite database, as deployed;
- express, fastapi: the usual tutorial brokers (bench/alternatives/), one HTTP POST each.

Two readings of "N calls in flight", both printed:
- N offers at once (`--levels`): at each level the paths take turns, one burst of N simultaneous
  offers each, so a change in the machine's load falls on all of them alike. A stress figure: real
  calls rarely start in the same millisecond.
- N calls up (`--calls-up`): N brokered calls are started, answered and left running on Voiceapp
  (their sockets open, their limits guards scheduled, as a team's calls are), then the paths take
  turns offering one new call at a time. An HTTP proxy keeps nothing for a call once it has
  answered, so for Express and FastAPI this is the same as one call at a time.
Overhead = a path's latency minus the direct path's at the same percentile. Upstream connection
reuse is counted at the stub.

Run: `python -m bench.broker [--levels 1 50 200] [--calls-up 200] [--samples 400]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath

import httpx

from bench import paths, servers
from bench.clients import burst, run_async
from bench.database import prepare, sqlite_url, voiceapp_env
from bench.figures import Latency, ms, print_tables, ratio, table
from bench.local_engine import (
    EngineOffer,
    broker_env,
    engine_key,
    engine_key_request,
    local_engine,
    real_offer,
)
from bench.servers import Server, add_server_options, workdir

LEVELS = (1, 50, 200)
# 20 users share every level's calls (up to 200 at once, 10 each), so the per-user limit of
# concurrent calls (2 by default) is lifted: the broker is measured, not the limits' refusal.
BENCH_ENV = {"LIMITS_MAX_CONCURRENT_CALLS": "1000"}
ALTERNATIVES = ("express", "fastapi")
VARIANT = "voiceapp variant"


@dataclass
class Tally:
    """What one path did at one concurrency level."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    upstream_requests: int = 0
    upstream_connections: int = 0
    cpu: float = 0.0  # the broker's (or, direct, the upstream's) CPU seconds during the bursts

    def add(self, other: Tally) -> None:
        self.latencies += other.latencies
        self.wall += other.wall
        self.upstream_requests += other.upstream_requests
        self.upstream_connections += other.upstream_connections
        self.cpu += other.cpu

    @property
    def cpu_ms_per_call(self) -> float:
        return self.cpu * 1000 / len(self.latencies) if self.latencies else math.nan

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall if self.wall else math.nan

    @property
    def reuse(self) -> float:
        """Share of upstream requests that went over an already open connection."""
        if not self.upstream_requests:
            return math.nan
        return max(0.0, 1 - self.upstream_connections / self.upstream_requests)


@dataclass
class Servers:
    stub: Server
    voiceapp: Server
    alternatives: list[Server]
    session_keys: list[str]
    # A second Voiceapp (--variant-app / --variant-env), measured in the same rounds.
    variant: tuple[Server, list[str]] | None = None


class StubCounters:
    """Connections and requests seen by the stub, read over one kept-alive connection; an
    upstream that is not the stub (the local engine) counts nothing and reads as zeros."""

    def __init__(self, stub: Server | None) -> None:
        self.url = f"{stub.base}/_stub/stats" if stub is not None else ""
        self.client = httpx.AsyncClient(timeout=10)

    async def read(self, endpoint: str) -> tuple[int, int]:
        if not self.url:
            return 0, 0
        stats = (await self.client.get(self.url)).json()
        return stats["connections"], stats["requests"].get(endpoint, 0)


async def one_round(path: paths.Path, level: int, stub: StubCounters, endpoint: str) -> Tally:
    operations = await path.prepare(level)
    connections, requests = await stub.read(endpoint)
    cpu = path.server.cpu_seconds()
    latencies, wall = await burst(operations)
    cpu = path.server.cpu_seconds() - cpu
    connections_after, requests_after = await stub.read(endpoint)
    await path.finish()
    # The stats connection is opened before the first read, so it is never in the difference.
    return Tally(latencies, wall, requests_after - requests, connections_after - connections, cpu)


async def measure_level(
    kind: str, all_paths: Sequence[paths.Path], level: int, options: argparse.Namespace
) -> dict[str, Tally]:
    endpoint = "calls" if kind == "offer" else "client_secrets"
    stub = StubCounters(options.stub)
    samples = options.samples if options.stub else options.engine_samples
    tallies = {path.name: Tally() for path in all_paths}
    try:
        for path in all_paths:  # a warm-up round: pools filled, code paths loaded
            await one_round(path, level, stub, endpoint)
        deadline = time.monotonic() + options.budget
        for _ in range(max(2, math.ceil(samples / level))):
            if time.monotonic() > deadline:
                break
            for path in all_paths:
                tallies[path.name].add(await one_round(path, level, stub, endpoint))
    finally:
        await stub.client.aclose()
    return tallies


async def sustained(path: paths.Path, workers: int, seconds: float, stub: StubCounters) -> Tally:
    """`workers` clients each issuing keys back to back for `seconds`: steady-state figures."""
    await path.open(workers)
    await asyncio.gather(*(path.cycle(i) for i in range(workers)))  # warm-up: pools filled
    connections, requests = await stub.read("client_secrets")
    cpu, started = path.server.cpu_seconds(), time.monotonic()

    async def worker(index: int) -> list[float]:
        took = []
        while time.monotonic() - started < seconds:
            took.append(await path.cycle(index))
        return took

    latencies = [x for got in await asyncio.gather(*map(worker, range(workers))) for x in got]
    wall, cpu = time.monotonic() - started, path.server.cpu_seconds() - cpu
    connections_after, requests_after = await stub.read("client_secrets")
    return Tally(latencies, wall, requests_after - requests, connections_after - connections, cpu)


async def measure_sustained(running: Servers, options: argparse.Namespace) -> dict:
    built = build_paths("key", running)
    stub = StubCounters(running.stub)
    try:
        workers, seconds = options.sustained_workers, options.sustained_seconds
        return {workers: {p.name: await sustained(p, workers, seconds, stub) for p in built}}
    finally:
        await asyncio.gather(*(path.close() for path in built), stub.client.aclose())


def build_paths(kind: str, running: Servers) -> list[paths.Path]:
    direct = paths.direct_offer if kind == "offer" else paths.direct_key
    proxy = paths.proxy_offer if kind == "offer" else paths.proxy_key
    mode = "brokered" if kind == "offer" else "direct"
    built: list[paths.Path] = [direct(running.stub)]
    built.append(paths.VoiceappPath(running.voiceapp, running.session_keys, mode))
    if running.variant is not None:
        server, keys = running.variant
        built.append(paths.VoiceappPath(server, keys, mode, name=VARIANT))
    return built + [proxy(alternative) for alternative in running.alternatives]


async def measure_kind(
    kind: str, running: Servers, options: argparse.Namespace, levels: Sequence[int] = ()
) -> dict:
    """{level: {path name: Tally}} for offers or keys, at `levels` (default: --levels)."""
    built = build_paths(kind, running)
    options.stub = running.stub
    try:
        return {
            level: await measure_level(kind, built, level, options)
            for level in levels or options.levels
        }
    finally:
        await asyncio.gather(*(path.close() for path in built))


async def measure_calls_up(running: Servers, options: argparse.Namespace) -> dict:
    """{calls up: {path name: Tally}}: one new call's offer at a time while that many brokered
    calls are answered and running on Voiceapp."""
    results = {}
    for up in options.calls_up:
        held = paths.VoiceappPath(running.voiceapp, running.session_keys, "brokered", name="held")
        try:
            # Started and answered untimed, as many at once as the socket rate limit allows.
            await burst(await held.prepare(up))
            results[up] = (await measure_kind("offer", running, options, levels=[1]))[1]
        finally:
            await held.finish()
            await held.close()
    return results


def reused(tally: Tally) -> str:
    return "n/a" if math.isnan(tally.reuse) else f"{tally.reuse:.1%}"


def versus(ours: Tally, theirs: Tally) -> str:
    """Voiceapp's p50, p99 and CPU per call over another path's: below 1, Voiceapp does better."""
    mine, got = Latency.of(ours.latencies), Latency.of(theirs.latencies)
    cpu = ratio(ours.cpu_ms_per_call, theirs.cpu_ms_per_call)
    return f"{ratio(mine.p50, got.p50)} / {ratio(mine.p99, got.p99)} / {cpu}"


def rows(results: dict[int, dict[str, Tally]], kind: str) -> list[list[object]]:
    out = []
    for level, tallies in results.items():
        floor = Latency.of(next(iter(tallies.values())).latencies)  # the direct path comes first
        for name, tally in tallies.items():
            got = Latency.of(tally.latencies)
            extra = (
                [ms(got.p50 - floor.p50), ms(got.p99 - floor.p99)]
                if kind == "offer"
                else [f"{tally.per_second:.0f}"]
            )
            vs = versus(tallies["voiceapp"], tally) if name in (*ALTERNATIVES, VARIANT) else ""
            out.append(
                [level, name, got.samples, ms(got.p50), ms(got.p99), *extra,
                 ms(tally.cpu_ms_per_call), reused(tally), vs]
            )  # fmt: skip
    return out


VERSUS = "voiceapp ÷ this (p50 / p99 / CPU)"
OFFER_HEADERS = [
    "in flight", "path", "calls", "p50 ms", "p99 ms", "overhead p50 ms", "overhead p99 ms",
    "server CPU ms/call", "upstream conn. reused", VERSUS,
]  # fmt: skip
KEY_HEADERS = [
    "in flight", "path", "keys", "p50 ms", "p99 ms", "keys/s", "server CPU ms/key",
    "upstream conn. reused", VERSUS,
]  # fmt: skip


CALLS_UP_TITLE = (
    "SDP offer → answer, one new call at a time while N brokered calls are up on Voiceapp "
    "(stub upstream)"
)


def report(offers: dict, keys: dict, calls_up: dict) -> str:
    tables = [table("SDP offer → answer, N offers at once (stub upstream)", OFFER_HEADERS,
                    rows(offers, "offer"))]  # fmt: skip
    if calls_up:
        headers = ["calls up", *OFFER_HEADERS[1:]]
        tables.append(table(CALLS_UP_TITLE, headers, rows(calls_up, "offer")))
    tables.append(table("Ephemeral key issuance (stub upstream)", KEY_HEADERS, rows(keys, "key")))
    return "\n".join(tables)


@contextlib.contextmanager
def started(workdir: FsPath, options: argparse.Namespace) -> Iterator[Servers]:
    """The stub, Voiceapp's Daphne on a migrated SQLite database, and the alternatives."""
    starters: dict[str, Callable] = {"express": servers.express, "fastapi": servers.fastapi}
    with contextlib.ExitStack() as stack:
        stub = stack.enter_context(servers.stub_upstream(workdir))
        env = servers.overridden(voiceapp_env(sqlite_url(workdir), stub) | BENCH_ENV, options)
        session_keys = prepare(env, users=20)
        voiceapp = stack.enter_context(servers.daphne(workdir, env, options.app))
        variant = None
        if options.variant_app or options.variant_env:
            variant = stack.enter_context(started_variant(workdir, stub, options))
        alts = [stack.enter_context(starters[name](workdir, stub)) for name in options.alternatives]
        yield Servers(stub, voiceapp, alts, session_keys, variant)


@contextlib.contextmanager
def started_variant(
    workdir: FsPath, stub: Server, options: argparse.Namespace
) -> Iterator[tuple[Server, list[str]]]:
    """Voiceapp once more, with another app or settings, on a database of its own."""
    url = f"sqlite:///{workdir / 'variant.sqlite3'}"
    env = servers.overridden(voiceapp_env(url, stub) | BENCH_ENV, options)
    env |= dict(item.split("=", 1) for item in options.variant_env)
    keys = prepare(env, users=20)
    app = options.variant_app or options.app
    with servers.daphne(workdir, env, app, name="daphne-variant") as server:
        yield server, keys


async def measure_all(running: Servers, options: argparse.Namespace) -> str:
    offers = await measure_kind("offer", running, options)
    calls_up = await measure_calls_up(running, options)
    keys = await measure_kind("key", running, options)
    output = report(offers, keys, calls_up)
    if options.sustained_seconds > 0:
        title = (
            f"Ephemeral keys, sustained: each path alone, {options.sustained_workers} clients "
            f"back to back for {options.sustained_seconds:.0f} s (stub upstream)"
        )
        output += "\n" + table(
            title, KEY_HEADERS, rows(await measure_sustained(running, options), "key")
        )
    return output


@dataclass
class Engine:
    """The local engine, Voiceapp's Daphne pointed at it, its sessions and the engine's key."""

    engine: Server
    voiceapp: Server
    session_keys: list[str]
    key: str

    def paths(self, kind: str, offer: str) -> list[paths.Path]:
        voiceapp, keys = self.voiceapp, self.session_keys
        if kind == "offer":
            brokered = paths.VoiceappPath(voiceapp, keys, "brokered", offer)
            return [EngineOffer(self.engine, self.key, offer), brokered]
        return [
            engine_key_request(self.engine, self.key),
            paths.VoiceappPath(voiceapp, keys, "direct"),
        ]


async def measure_on_engine(running: Engine, options: argparse.Namespace) -> str:
    options.stub = None
    offer = await real_offer()
    results = {}
    for kind in ("offer", "key"):
        built = running.paths(kind, offer)
        try:
            results[kind] = {
                level: await measure_level(kind, built, level, options)
                for level in options.engine_levels
            }
        finally:
            await asyncio.gather(*(path.close() for path in built))
    offer_title = "SDP offer → answer (local engine: real aiortc peers)"
    key_title = "Ephemeral key issuance (local engine)"
    return "\n".join(
        [
            table(offer_title, OFFER_HEADERS, rows(results["offer"], "offer")),
            table(key_title, KEY_HEADERS, rows(results["key"], "key")),
        ]
    )


def run_on_engine(folder: FsPath, options: argparse.Namespace) -> str:
    key = engine_key()
    with local_engine(folder, key) as engine:
        env, session_keys = broker_env(folder, engine, key, options)
        with servers.daphne(folder, env, options.app, name="daphne-engine") as voiceapp:
            running = Engine(engine, voiceapp, session_keys, key)
            return run_async(measure_on_engine(running, options))


def run(options: argparse.Namespace) -> str:
    with workdir(options) as folder:
        with started(folder, options) as running:
            output = run_async(measure_all(running, options))
        if options.engine_levels:
            output += "\n" + run_on_engine(folder, options)
    return output


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Signaling overhead through each broker.")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument(
        "--calls-up", type=int, nargs="*", default=[200],
        help="brokered calls left running while new calls are offered one at a time",
    )  # fmt: skip
    parser.add_argument("--samples", type=int, default=400, help="calls per path and level")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per level at most")
    parser.add_argument("--alternatives", nargs="*", default=list(ALTERNATIVES))
    parser.add_argument(
        "--engine-levels", type=int, nargs="*", default=[1, 4],
        help="calls in flight against the local engine (none: skip it)",
    )  # fmt: skip
    parser.add_argument("--engine-samples", type=int, default=24, help="calls per engine level")
    parser.add_argument("--sustained-workers", type=int, default=100, help="key clients")
    parser.add_argument(
        "--sustained-seconds", type=float, default=10.0, help="per path (0: skip sustained keys)"
    )
    parser.add_argument("--variant-app", help=f"measure this ASGI app too, as '{VARIANT}'")
    parser.add_argument(
        "--variant-env", action="append", default=[], metavar="NAME=VALUE",
        help=f"settings for '{VARIANT}' on top of --env (repeatable)",
    )  # fmt: skip
    add_server_options(parser)
    return parser


if __name__ == "__main__":
    print_tables(run, parser)
