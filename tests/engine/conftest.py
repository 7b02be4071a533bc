"""The local engine as a real server for these tests, and the clients that drive it.

`engine` runs `manage.py localrealtime --port <free port>` in a subprocess with a known server
key and a small session limit (so the full-pool test is cheap), and waits until it answers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from openai import AsyncOpenAI

from localrealtime.speech.resampling import convert
from localrealtime.speech.synthesis import synthesize
from tests.environment import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVER_KEY = "sk-local-engine-tests"
MAX_SESSIONS = 3
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Engine:
    origin: str
    base_url: str
    key: str
    max_sessions: int
    process: subprocess.Popen[bytes]

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)

    def sdk(self, key: str | None = None) -> AsyncOpenAI:
        return AsyncOpenAI(api_key=key or self.key, base_url=self.base_url, max_retries=0)

    def server_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _wait_until_answering(engine: Engine) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            raise RuntimeError(f"the engine exited with {engine.process.returncode}")
        try:
            httpx.get(f"{engine.base_url}/realtime/engine_stats", headers=engine.server_auth())
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"the engine did not answer within {START_TIMEOUT_SECONDS} s")


@contextlib.contextmanager
def running_engine(*, embedded: bool = False, **settings: str) -> Iterator[Engine]:
    """`manage.py localrealtime` on a free port, with extra settings from the environment.

    `embedded=True` serves the whole of Voiceapp under daphne instead, as `make run` does.
    """
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "LOCAL_REALTIME_API_KEY": SERVER_KEY,
        "LOCAL_REALTIME_MAX_SESSIONS": str(MAX_SESSIONS),
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    command = [sys.executable, "manage.py", "localrealtime", "--port", str(port)]
    if embedded:
        command = [sys.executable, "-m", "daphne", "-p", str(port), "voiceapp.asgi:application"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    origin = f"http://127.0.0.1:{port}"
    max_sessions = int(env["LOCAL_REALTIME_MAX_SESSIONS"])
    running = Engine(origin, f"{origin}/local-realtime/v1", SERVER_KEY, max_sessions, process)
    try:
        _wait_until_answering(running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def as_upstream(settings: Any, engine: Engine) -> Engine:
    """Make `engine`, running in its own process, the upstream of the app under test (pytest's
    `settings` fixture undoes it after the test)."""
    settings.OPENAI_BASE_URL = engine.base_url
    settings.REALTIME_API_KEY = engine.key
    settings.LOCAL_REALTIME_ENABLED = False  # not embedded in the app here
    return engine


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    with running_engine() as running:
        yield running


def spoken(text: str, *, rate: int = 48000, leading_silence_s: float = 2.0) -> np.ndarray:
    """`text` spoken by eSpeak NG (voice en-us+f2), after some silence, as mono PCM16."""
    speech = synthesize(text, "en-us+f2")
    samples = convert(speech.samples, speech.sample_rate, rate)
    silence = np.zeros(int(rate * leading_silence_s), np.int16)
    return np.concatenate([silence, samples, np.zeros(rate, np.int16)])
