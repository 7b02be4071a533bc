"""The whole app in a Daphne subprocess, a signed-in Chromium, and a spoken sentence as its mic.

The server and the test share a file SQLite database: the server writes what the browser relays,
the test reads it back with the standard library's sqlite3 (the test process has no Django
database of its own here). Ports are picked at run time.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, WebSocket, sync_playwright

from localrealtime.speech.synthesis import synthesize
from tests.environment import free_port, require_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
USERNAME, PASSWORD = "talker", "correct horse battery staple"
# The server key of the embedded engine, set so the tests can look for it where it must not be.
SERVER_KEY = "sk-local-browser-tests-sentinel-5b1d0c"
SENTENCE = "The weather is nice and sunny in London."
START_TIMEOUT_SECONDS = 30
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@dataclass(frozen=True)
class App:
    url: str
    database: Path

    def rows(self, query: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.database) as db:
            return db.execute(query, params).fetchall()

    def turns(self, conversation_id: int) -> list[tuple[str, str, str]]:
        return self.rows(
            "SELECT role, text, status FROM conversations_turn"
            " WHERE conversation_id = ? ORDER BY position",
            conversation_id,
        )

    def latest_conversation(self) -> tuple:
        return self.rows(
            "SELECT id, mode, transport, status, upstream_call_id FROM conversations_conversation"
            " ORDER BY id DESC LIMIT 1"
        )[0]


def _environment(port: int, database: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_"))}
    inherited.pop("REDIS_URL", None)
    return inherited | {
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{database}",
        "ALLOWED_HOSTS": "127.0.0.1",
        # The embedded engine, reached by the server (brokered) and the browser (direct) alike.
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/local-realtime/v1",
        "LOCAL_REALTIME_API_KEY": SERVER_KEY,
        "LOG_LEVEL": "WARNING",
    }


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"daphne did not answer within {START_TIMEOUT_SECONDS} s")


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    port, database = free_port(), tmp_path_factory.mktemp("app") / "db.sqlite3"
    env = _environment(port, database)
    _manage(env, "migrate", "--noinput", "-v", "0")
    create = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_superuser({USERNAME!r}, 'talker@example.com', {PASSWORD!r})"
    )
    _manage(env, "shell", "-c", create)
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen([*command, "voiceapp.asgi:application"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(url, process)
        yield App(url, database)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def spoken_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentence by eSpeak NG (en-us+f2), 16-bit mono, after 2 s of silence (playback starts
    at getUserMedia), then 1 s of silence so voice activity detection sees the end."""
    speech = synthesize(SENTENCE, "en-us+f2")
    rate = speech.sample_rate
    samples = np.concatenate(
        [np.zeros(2 * rate, np.int16), speech.samples.astype(np.int16), np.zeros(rate, np.int16)]
    )
    path = tmp_path_factory.mktemp("audio") / "sentence.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


@pytest.fixture
def browser(spoken_wav: Path) -> Iterator[Browser]:
    executable = require_chromium()
    # `%noloop` with no comma before it: with ",%noloop" Chromium's fake mic is silent.
    flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={spoken_wav}%noloop"]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=flags)
        yield launched
        launched.close()


def _record_frames(socket: WebSocket, frames: list[str]) -> None:
    socket.on("framesent", lambda payload: frames.append(str(payload)))
    socket.on("framereceived", lambda payload: frames.append(str(payload)))


def sign_in(page: Page, app: App) -> None:
    """Through the sign-in form, as a person would."""
    page.goto("/accounts/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{app.url}/")


@pytest.fixture
def socket_frames() -> list[str]:
    """Every signaling frame the page sent or received, for the key check."""
    return []


@pytest.fixture
def page(browser: Browser, app: App, socket_frames: list[str]) -> Iterator[Page]:
    context = browser.new_context(base_url=app.url)
    context.grant_permissions(["microphone"], origin=app.url)
    opened = context.new_page()
    opened.on("websocket", lambda socket: _record_frames(socket, socket_frames))
    sign_in(opened, app)
    yield opened
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
