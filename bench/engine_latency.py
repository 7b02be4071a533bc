"""The local engine's speech latency and capacity: `python -m bench.engine_latency`.

Starts `manage.py localrealtime` on a free loopback port, then for 1, 2, 4 and 8 simultaneous
aiortc calls has every caller speak one sentence (eSpeak NG, en-us+f2) and measures, per call:
- end of speech -> `conversation.item.input_audio_transcription.completed` arriving;
- end of speech -> the first reply audio frame with sound arriving;
and for the engine's processes (server + decoder workers) the CPU seconds per minute of call,
and the worst event-loop lag the engine saw (its own monitor, via `realtime/engine_stats`).
Both latencies include the 500 ms of silence server VAD waits for before ending a turn (as
OpenAI's does). The callers run in this process on the same two cores, so they load the machine
too: the figures are for engine *and* clients on one box.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from localrealtime.speech.resampling import convert
from localrealtime.speech.synthesis import synthesize
from tests.engine.client import RATE, Caller

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "The weather is nice and sunny in London."
SESSION_LIMIT_SECONDS = 45
SESSION = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Engine:
    base_url: str
    key: str
    pid: int


@dataclass
class Turn:
    transcript_s: float | None
    first_audio_s: float | None


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--rounds", type=int, default=2, help="rounds per level, pooled")
    return parser


@contextlib.contextmanager
def running_engine(max_sessions: int) -> Iterator[Engine]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "sk-bench-" + secrets.token_hex(8)
    env = {
        **os.environ,
        "DEBUG": "1",
        "LOCAL_REALTIME_API_KEY": key,
        "LOG_LEVEL": "WARNING",
        "LOCAL_REALTIME_MAX_SESSIONS": str(max_sessions),
    }
    command = [sys.executable, "manage.py", "localrealtime", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    engine = Engine(f"http://127.0.0.1:{port}/local-realtime/v1", key, process.pid)
    try:
        _wait_until_answering(engine)
        yield engine
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def _wait_until_answering(engine: Engine) -> None:
    for _ in range(150):
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{engine.base_url}/realtime/engine_stats", headers=_auth(engine))
            return
        time.sleep(0.2)
    raise RuntimeError("the engine did not start")


def _auth(engine: Engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {engine.key}"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and all its descendants (the decoder workers)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(member, 0.0) for member in tree)


def utterance() -> np.ndarray:
    speech = synthesize(SENTENCE, "en-us+f2")
    return np.concatenate(
        [np.zeros(RATE, np.int16), convert(speech.samples, speech.sample_rate, RATE)]
    )


async def one_call(engine: Engine, delay_s: float, http: httpx.AsyncClient) -> Turn:
    await asyncio.sleep(delay_s)
    caller = Caller()
    form = {
        "sdp": (None, await caller.offer(), "application/sdp"),
        "session": (None, json.dumps(SESSION), "application/json"),
    }
    answer = await http.post("/realtime/calls", files=form, headers=_auth(engine))
    answer.raise_for_status()
    await caller.accept(answer.text)
    call_id = answer.headers["Location"].rsplit("/", 1)[-1]
    try:
        await caller.wait_for("session.created")
        caller.microphone.say(utterance())
        return await _measure(caller)
    finally:
        await http.post(f"/realtime/calls/{call_id}/hangup", headers=_auth(engine))
        await caller.close()


async def _measure(caller: Caller) -> Turn:
    transcript_at = None
    with contextlib.suppress(AssertionError):
        event = await caller.wait_for(
            "conversation.item.input_audio_transcription.completed", within=SESSION_LIMIT_SECONDS
        )
        transcript_at = caller.arrivals[caller.events.index(event)]
        await caller.wait_for("output_audio_buffer.started", within=SESSION_LIMIT_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(caller.heard_sound.wait(), 5)
    ended = caller.microphone.speech_ended_at
    if ended is None:
        return Turn(None, None)
    first_audio = caller.loud_frames[0] - ended if caller.loud_frames else None
    return Turn(transcript_at - ended if transcript_at else None, first_audio)


async def one_level(engine: Engine, calls: int) -> tuple[list[Turn], float, float]:
    """Runs `calls` simultaneous calls; returns their turns, wall seconds and engine CPU s."""
    cpu_before, started = cpu_seconds(engine.pid), time.monotonic()
    async with httpx.AsyncClient(base_url=engine.base_url, timeout=30) as http:
        # Starts 250 ms apart: simultaneous calls, but not lock-step speech.
        turns = await asyncio.gather(*(one_call(engine, i * 0.25, http) for i in range(calls)))
    return list(turns), time.monotonic() - started, cpu_seconds(engine.pid) - cpu_before


def _summary(values: list[float | None]) -> str:
    known = [value for value in values if value is not None]
    if not known:
        return "none"
    missing = f" ({len(values) - len(known)} lost)" if len(known) < len(values) else ""
    return f"{statistics.median(known):.2f} / {max(known):.2f}{missing}"


async def pooled(engine: Engine, calls: int, rounds: int) -> tuple[list[Turn], float, float]:
    turns, wall_s, cpu_s = [], 0.0, 0.0
    for _ in range(rounds):
        more, wall, cpu = await one_level(engine, calls)
        turns, wall_s, cpu_s = turns + more, wall_s + wall, cpu_s + cpu
    return turns, wall_s, cpu_s


async def measure(levels: list[int], rounds: int) -> str:
    rows, medians = [], {}
    load_before = os.getloadavg()[0]
    with running_engine(max(levels)) as engine:
        for calls in levels:
            turns, wall_s, cpu_s = await pooled(engine, calls, rounds)
            async with httpx.AsyncClient() as http:
                stats = await http.get(
                    f"{engine.base_url}/realtime/engine_stats", headers=_auth(engine)
                )
            transcript = [turn.transcript_s for turn in turns]
            audio = [turn.first_audio_s for turn in turns]
            medians[calls] = _medians(transcript, audio)
            cpu_per_minute = cpu_s / (calls * wall_s / 60)
            rows.append(
                f"| {calls} | {_summary(transcript)} | {_summary(audio)} | "
                f"{cpu_per_minute:.1f} | {stats.json()['worst_loop_lag_ms']:.0f} |"
            )
    header = (
        "| calls | end of speech → transcript, s (median / max) | → first reply audio, s "
        "(median / max) | engine CPU s per call-minute | worst loop lag so far, ms |\n"
        "|---|---|---|---|---|"
    )
    load = f"Load average (1 min) before the run: {load_before:.1f} on {os.cpu_count()} cores."
    return "\n".join([header, *rows, "", _verdict(medians), load])


def _medians(transcript: list[float | None], audio: list[float | None]) -> tuple[float, float]:
    known_t = [v for v in transcript if v is not None] or [float("inf")]
    known_a = [v for v in audio if v is not None] or [float("inf")]
    return statistics.median(known_t), statistics.median(known_a)


def _verdict(medians: dict[int, tuple[float, float]]) -> str:
    base = medians[min(medians)]
    carried = [n for n, (t, a) in sorted(medians.items()) if t <= 2 * base[0] and a <= 2 * base[1]]
    doubled = [n for n in sorted(medians) if n not in carried]
    if not doubled:
        return f"Latencies stayed under twice the single-call figures up to {max(medians)} calls."
    return (
        f"Latencies stayed under twice the single-call figures up to {max(carried)} "
        f"simultaneous calls; at {doubled[0]} they more than doubled."
    )


def run(args: argparse.Namespace) -> str:
    return asyncio.run(measure(args.levels, args.rounds))


if __name__ == "__main__":
    started = time.monotonic()
    print(run(parser().parse_args()))
    print(f"\n({time.monotonic() - started:.0f} s)")
