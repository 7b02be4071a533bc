"""Capacity: idle signed-in signaling sockets held by one Daphne process.

Opens sockets up to each level (1,000 then 5,000 by default), each signed in and greeted with
`hello`, and leaves them idle. At each level: the server's resident memory (VmRSS from
/proc/<pid>/status) and what it grew by per socket since before the first socket, then the ack
latency of one active socket among the idle ones (a call started, single-exchange batches relayed
at a steady pace). Then all sockets close and the memory is read again, to show what is given
back; finally the largest level is opened once more, to tell memory kept for reuse from a leak.
The fd limit is raised (soft to hard) first; the server inherits it.

Run: `python -m bench.capacity [--levels 1000 5000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench import servers
from bench.clients import SignalingSocket, close_sockets, open_sockets, run_async
from bench.database import prepare, sqlite_url, voiceapp_env
from bench.figures import Latency, ms, print_tables, table
from bench.ingestion import conversation, relay_batch
from signaling import memory

SETTLE_SECONDS = 2.0
ACTIVE_BATCHES = 40
ACTIVE_INTERVAL = 0.05
OPEN_TIMEOUT = 600.0


@dataclass
class Level:
    label: str
    sockets: int
    rss_kib: int
    open_seconds: float
    latency: Latency


def raise_fd_limit(needed: int) -> int:
    """Raise the soft open-files limit to the hard one; the servers started later inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise SystemExit(f"open-files limit {hard} is below the {needed} sockets asked for")
    return hard


async def settled_rss(server: servers.Server) -> int:
    """VmRSS once the server has had a moment to finish what the last step set off."""
    await asyncio.sleep(SETTLE_SECONDS)
    return server.rss_kib()


async def active_latency(server: servers.Server, key: str, tag: str) -> Latency:
    """One socket's ack latencies: a call started, then one exchange per batch, paced."""
    socket = await SignalingSocket.open(server, key)
    try:
        await socket.request({"type": "call.start", "mode": "brokered"}, "call.started")
        events = conversation(tag, 5 * ACTIVE_BATCHES)
        latencies = []
        for seq in range(ACTIVE_BATCHES):
            await socket.reserve(1)
            sent = time.monotonic()
            await relay_batch(socket, seq, events[5 * seq : 5 * seq + 5])
            latencies.append(time.monotonic() - sent)
            await asyncio.sleep(ACTIVE_INTERVAL)
        await socket.request({"type": "call.end", "reason": "bench"}, "call.ended")
    finally:
        await socket.close()
    return Latency.of(latencies)


async def hold(
    server: servers.Server, keys: list[str], held: list[SignalingSocket], level: int, label: str
) -> Level:
    """Open sockets until `level` are held, then read the memory and one active socket."""
    started = time.monotonic()
    async with asyncio.timeout(OPEN_TIMEOUT):
        held += await open_sockets(server, keys, level - len(held))
    opened = time.monotonic() - started
    rss = await settled_rss(server)
    latency = await active_latency(server, keys[0], f"active{label}")
    return Level(label, level, rss, opened, latency)


async def measure(server: servers.Server, keys: list[str], levels: Sequence[int]) -> str:
    # A warm-up call first, so code loaded on first use is not charged to the idle sockets.
    await active_latency(server, keys[0], "warmup")
    baseline = await settled_rss(server)
    held: list[SignalingSocket] = []
    results: list[Level] = []
    try:
        for level in sorted(levels):
            results.append(await hold(server, keys, held, level, str(level)))
    finally:
        await close_sockets(held)
    # Read once the server has given back what it trims after a wave of closes (signaling.memory).
    await asyncio.sleep(memory.TRIM_DELAY_SECONDS + 1)
    after = await settled_rss(server)
    # The largest level once more: memory kept after closing but reused now is no leak.
    again: list[SignalingSocket] = []
    try:
        label = f"{max(levels)} again"
        results.append(await hold(server, keys, again, max(levels), label))
    finally:
        await close_sockets(again)
    return report(baseline, results, after)


HEADERS = [
    "idle sockets", "opened in s", "server RSS MiB", "KiB per socket", "active ack p50 ms",
    "active ack p99 ms",
]  # fmt: skip


def report(baseline: int, results: list[Level], after: int) -> str:
    rows: list[list[object]] = [["0 (before)", "", f"{baseline / 1024:.1f}", "", "", ""]]
    for level in results:
        if level.label.endswith("again"):
            rows.append(["0 (all closed)", "", f"{after / 1024:.1f}", "", "", ""])
        per_socket = (level.rss_kib - baseline) / level.sockets
        rows.append(
            [level.label, f"{level.open_seconds:.1f}", f"{level.rss_kib / 1024:.1f}",
             f"{per_socket:.1f}", ms(level.latency.p50), ms(level.latency.p99)]
        )  # fmt: skip
    return table("Idle signaling sockets held by one Daphne process (SQLite)", HEADERS, rows)


def run(options: argparse.Namespace) -> str:
    raise_fd_limit(max(options.levels) + 1000)
    with servers.workdir(options) as folder, servers.stub_upstream(folder) as stub:
        env = servers.overridden(voiceapp_env(sqlite_url(folder), stub), options)
        keys = prepare(env, users=options.users)
        with servers.daphne(folder, env, options.app, name="daphne-capacity") as server:
            return run_async(measure(server, keys, options.levels))


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Idle signaling sockets held by one Daphne.")
    parser.add_argument("--levels", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--users", type=int, default=100, help="signed-in users sharing sockets")
    servers.add_server_options(parser)
    return parser


if __name__ == "__main__":
    print_tables(run, parser)
