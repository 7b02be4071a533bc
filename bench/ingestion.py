"""Transcript ingestion: M signaling sockets relaying K events each, stored and acked per batch.

Each socket starts a call (`call.start`), then relays its conversation's events in numbered
batches (`events.relay`), one batch in flight, waiting for each `events.ack` (sent after the
commit). Two loads:
- paced: the sockets together send `--rate` events/s (default 1,000), small batches, as calls do;
- max: every socket sends full batches as fast as the acks come back (within the per-socket
  rate limit that `hello` announces, as the browser keeps it).
Each socket then re-sends its last batch, as a reconnecting browser does, and ends the call.

Figures: events stored per second by the one Daphne process (events ÷ time from the first batch
sent to the last ack), ack latency p50/p99, and a check of the database afterwards: every turn
and usage row there exactly once, with the right words in the right order (0 lost, 0 doubled).
Run on SQLite and on PostgreSQL (when a local server answers), and against the bare echo
consumer (bench/echo_consumer.py) in the same run.

Run: `python -m bench.ingestion [--sockets 50] [--rate 1000] [--databases sqlite postgres]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import servers
from bench.clients import RATE_MARGIN, SignalingSocket, close_sockets, open_sockets, run_async
from bench.database import (
    postgres_available,
    postgres_database,
    prepare,
    run_django,
    sqlite_url,
    voiceapp_env,
)
from bench.figures import Latency, ms, print_tables, ratio, table
from bench.records import turn_digest
from signaling import messages

ECHO_APP = "bench.echo_consumer:application"
# The message rate the client allows itself per socket (the server's limit, less a margin).
RATE_PER_SOCKET = int(messages.RATE_PER_SECOND * RATE_MARGIN)
LOAD_TIMEOUT = 300.0  # beyond the paced schedule


@dataclass(frozen=True)
class Load:
    name: str
    sockets: int
    events: int  # per socket, a multiple of 5 (whole exchanges)
    batch: int
    rate: float | None  # events/s for all sockets together; None: as fast as acks allow


@dataclass
class SocketRun:
    conversation_id: int
    latencies: list[float]
    first_sent: float
    last_acked: float


@dataclass
class LoadResult:
    load: Load
    runs: list[SocketRun]
    cpu: float = 0.0  # the server's CPU seconds over the whole load
    lost: int | None = None
    doubled: int | None = None

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu * 1e6 / self.events if self.events else math.nan

    @property
    def events(self) -> int:
        return self.load.events * len(self.runs)

    @property
    def per_second(self) -> float:
        wall = max(r.last_acked for r in self.runs) - min(r.first_sent for r in self.runs)
        return self.events / wall if wall > 0 else math.nan


# --- The conversation each socket relays -------------------------------------------------


def question(tag: str, n: int) -> str:
    return f"Question {n}: what is the weather like in {tag}?"


def answer(tag: str, n: int) -> str:
    return f"Answer {n}: it is sunny in {tag}, about twenty degrees, with a light wind."


def exchange(tag: str, n: int) -> list[dict[str, Any]]:
    """One user turn and one assistant reply, as the data channel delivers them (5 events)."""
    user, assistant, response = f"item_{tag}_u{n}", f"item_{tag}_a{n}", f"resp_{tag}_{n}"
    previous = f"item_{tag}_a{n - 1}" if n else ""
    usage = {
        "input_tokens": 120 + n, "output_tokens": 80, "total_tokens": 200 + n,
        "input_token_details": {"text_tokens": 20, "audio_tokens": 100 + n, "cached_tokens": 64},
        "output_token_details": {"text_tokens": 20, "audio_tokens": 60},
    }  # fmt: skip
    return [
        {"type": "input_audio_buffer.committed", "item_id": user, "previous_item_id": previous},
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": user,
         "content_index": 0, "transcript": question(tag, n)},
        {"type": "conversation.item.added", "previous_item_id": user,
         "item": {"id": assistant, "type": "message", "role": "assistant", "content": []}},
        {"type": "response.output_audio_transcript.done", "response_id": response,
         "item_id": assistant, "output_index": 0, "content_index": 0,
         "transcript": answer(tag, n)},
        {"type": "response.done",
         "response": {"id": response, "status": "completed", "usage": usage}},
    ]  # fmt: skip


def conversation(tag: str, events: int) -> list[dict[str, Any]]:
    numbered = [event for n in range(events // 5) for event in exchange(tag, n)]
    return [{**event, "event_id": f"event_{tag}_{i}"} for i, event in enumerate(numbered)]


def expected_record(tag: str, events: int) -> dict[str, Any]:
    """What the database must hold once `conversation(tag, events)` is stored: written out
    independently of Voiceapp's own rules, so the check does not trust the code it checks."""
    rows = []
    for n in range(events // 5):
        rows.append((f"item_{tag}_u{n}", "user", question(tag, n), 2 * n))
        rows.append((f"item_{tag}_a{n}", "assistant", answer(tag, n), 2 * n + 1))
    return {"turns": len(rows), "usages": events // 5, "digest": turn_digest(rows)}


# --- The client ---------------------------------------------------------------------------


async def send(socket: SignalingSocket, message: dict[str, Any], reply: str) -> dict[str, Any]:
    await socket.reserve(1)
    return await socket.request(message, reply)


async def relay(socket: SignalingSocket, tag: str, load: Load, start_at: float) -> SocketRun:
    started = await send(socket, {"type": "call.start", "mode": "brokered"}, "call.started")
    events = conversation(tag, load.events)
    batches = [events[i : i + load.batch] for i in range(0, len(events), load.batch)]
    interval = 0.0 if load.rate is None else load.batch * load.sockets / load.rate
    latencies, first_sent = [], math.nan
    for seq, batch in enumerate(batches):
        await asyncio.sleep(max(0.0, start_at + seq * interval - time.monotonic()))
        await socket.reserve(1)
        sent = time.monotonic()
        first_sent = sent if seq == 0 else first_sent
        await relay_batch(socket, seq, batch)
        latencies.append(time.monotonic() - sent)
    last_acked = time.monotonic()
    await relay_batch(socket, len(batches) - 1, batches[-1])  # the resend: must change nothing
    await send(socket, {"type": "call.end", "reason": "bench"}, "call.ended")
    return SocketRun(int(started["conversation_id"]), latencies, first_sent, last_acked)


async def relay_batch(socket: SignalingSocket, seq: int, batch: list[dict[str, Any]]) -> None:
    ack = await socket.request({"type": "events.relay", "seq": seq, "events": batch}, "events.ack")
    if ack.get("seq") != seq:
        raise RuntimeError(f"ack for batch {ack.get('seq')} while waiting for {seq}")


async def run_load(server: servers.Server, keys: Sequence[str], load: Load) -> LoadResult:
    sockets = await open_sockets(server, keys, load.sockets)
    cpu = server.cpu_seconds()
    try:
        # Sockets start spread over one interval, so the paced load arrives evenly.
        begin = time.monotonic() + 0.5
        spread = 0.0 if load.rate is None else load.batch * load.sockets / load.rate
        # The paced schedule's own length, plus a margin for a server that falls behind it.
        schedule = 0.0 if load.rate is None else load.events * load.sockets / load.rate
        async with asyncio.timeout(schedule + LOAD_TIMEOUT):
            runs = await asyncio.gather(
                *(
                    relay(socket, f"s{i}", load, begin + spread * i / load.sockets)
                    for i, socket in enumerate(sockets)
                )
            )
        cpu = server.cpu_seconds() - cpu
    finally:
        await close_sockets(sockets)
    return LoadResult(load, list(runs), cpu)


# --- Checking the database ------------------------------------------------------------------


def check_records(env: dict[str, str], result: LoadResult) -> None:
    """Compare the stored record of every socket's conversation with what it sent."""
    ids = [str(run.conversation_id) for run in result.runs]
    stored = json.loads(run_django(env, "-m", "bench.records", *ids).strip().splitlines()[-1])
    lost = doubled = 0
    for index, run in enumerate(result.runs):
        want = expected_record(f"s{index}", result.load.events)
        got = stored[str(run.conversation_id)]
        for kind in ("turns", "usages"):
            lost += max(0, want[kind] - got[kind])
            doubled += max(0, got[kind] - want[kind])
        if got["turns"] == want["turns"] and got["digest"] != want["digest"]:
            lost += 1  # the right count of turns, but altered or out of order
    result.lost, result.doubled = lost, doubled


# --- Running it -----------------------------------------------------------------------------


def loads(options: argparse.Namespace) -> list[Load]:
    sockets, paced_events = options.sockets, options.events - options.events % 5
    max_events = options.max_events - options.max_events % 5
    # The browser keeps to the per-socket message rate, so even "max" has a ceiling: say which.
    ceiling = sockets * RATE_PER_SOCKET * options.max_batch
    return [
        Load(f"paced {options.rate:.0f} ev/s", sockets, paced_events, options.paced_batch,
             options.rate),
        Load(f"max (client cap {ceiling} ev/s)", sockets, max_events, options.max_batch, None),
    ]  # fmt: skip


def measure(server: servers.Server, keys: list[str], options: argparse.Namespace) -> list:
    return [run_async(run_load(server, keys, load)) for load in loads(options)]


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield sqlite_url(workdir).replace("bench.sqlite3", "ingestion.sqlite3")
    else:
        with postgres_database() as url:
            yield url


def measure_voiceapp(kind: str, workdir: Path, options: argparse.Namespace) -> list[LoadResult]:
    with servers.stub_upstream(workdir) as stub, database(kind, workdir) as url:
        env = servers.overridden(voiceapp_env(url, stub), options)
        keys = prepare(env, users=options.sockets)
        with servers.daphne(workdir, env, options.app, name=f"daphne-{kind}") as server:
            results = measure(server, keys, options)
        for result in results:
            check_records(env, result)
    return results


def measure_echo(workdir: Path, options: argparse.Namespace) -> list[LoadResult]:
    with servers.stub_upstream(workdir) as stub:
        env = voiceapp_env(f"sqlite:///{workdir / 'echo.sqlite3'}", stub)
        keys = prepare(env, users=options.sockets)
        with servers.daphne(workdir, env, ECHO_APP, name="daphne-echo") as server:
            return measure(server, keys, options)


HEADERS = [
    "server", "database", "load", "sockets x events", "events/s", "ack p50 ms", "ack p99 ms",
    "server CPU µs/event", "lost", "doubled", "events/s ÷ echo", "CPU/event ÷ echo",
]  # fmt: skip


def rows(label: str, kind: str, results: list[LoadResult], echo: list[LoadResult]) -> list:
    out = []
    for result, floor in zip(results, echo, strict=True):
        latency = Latency.of([x for run in result.runs for x in run.latencies])
        checked = result.lost is not None
        out.append(
            [label, kind, result.load.name, f"{len(result.runs)} x {result.load.events}",
             f"{result.per_second:.0f}", ms(latency.p50), ms(latency.p99),
             f"{result.cpu_us_per_event:.0f}",
             result.lost if checked else "n/a", result.doubled if checked else "n/a",
             ratio(result.per_second, floor.per_second),
             ratio(result.cpu_us_per_event, floor.cpu_us_per_event)]
        )  # fmt: skip
    return out


def databases(options: argparse.Namespace) -> list[str]:
    wanted = list(options.databases)
    if "postgres" in wanted and not postgres_available():
        print("PostgreSQL at 127.0.0.1:5432 does not answer: skipping it.", flush=True)
        wanted.remove("postgres")
    return wanted


def run(options: argparse.Namespace) -> str:
    with servers.workdir(options) as folder:
        echo = measure_echo(folder, options)
        body = rows("echo consumer", "none", echo, echo)
        for kind in databases(options):
            body += rows("voiceapp", kind, measure_voiceapp(kind, folder, options), echo)
    return table("Transcript ingestion (events relayed over signaling sockets)", HEADERS, body)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Transcript ingestion over signaling sockets.")
    parser.add_argument("--sockets", type=int, default=50, help="simultaneous sockets")
    parser.add_argument("--events", type=int, default=300, help="events per socket and load")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced load, events/s")
    parser.add_argument("--paced-batch", type=int, default=5, help="events per paced batch")
    parser.add_argument("--max-events", type=int, default=1280, help="events per socket, max")
    parser.add_argument("--max-batch", type=int, default=64, help="events per max batch")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    servers.add_server_options(parser)
    return parser


if __name__ == "__main__":
    print_tables(run, parser)
