"""Voiceapp as a team runs it, for the cross-process tests: two Daphne processes sharing one
PostgreSQL database (created for the run, migrated) and one Redis (a redis-server of the test's
own on a free port, so it can be restarted without touching the machine's), with the local engine
running standalone as their upstream. Ports are picked at run time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from tests.engine.conftest import Engine
from tests.environment import free_port

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
START_TIMEOUT_SECONDS = 30
CALLER, WATCHER = "caller", "watcher"


def answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


class RedisServer:
    """A redis-server of this test's own, restartable on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait(lambda: answers(self.port), "redis-server")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run; dropped afterwards."""
    name = f"voiceapp_live_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(*, database_url: str, redis_url: str, engine: Engine) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_"))}
    return inherited | {
        "DEBUG": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        # The standalone engine is the upstream of both processes (each still mounts its own
        # embedded engine, unused: without OPENAI_API_KEY the local engine must be enabled).
        "OPENAI_BASE_URL": engine.base_url,
        "LOCAL_REALTIME_API_KEY": engine.key,
        "LOG_LEVEL": "WARNING",
    }


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


_SESSIONS = f"""
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
User = get_user_model()
def session(user):
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key
caller = User.objects.create_user("{CALLER}", password="x")
watcher = User.objects.create_superuser("{WATCHER}", "watcher@example.com", "x")
print("SESSIONS", session(caller), session(watcher))
"""


def signed_in_sessions(env: dict[str, str]) -> tuple[str, str]:
    """The caller's and the (staff) watcher's session keys, as a sign-in would leave them."""
    # Log lines share stdout with the printed keys.
    output = manage(env, "shell", "-c", _SESSIONS).splitlines()
    _, caller, watcher = next(line for line in output if line.startswith("SESSIONS ")).split()
    return caller, watcher


@dataclass
class Daphne:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return stop(self.process, sig)


@dataclass
class Team:
    engine: Engine
    redis: RedisServer
    database_url: str
    env: dict[str, str]
    a: Daphne
    b: Daphne
    caller_cookie: str
    watcher_cookie: str


def start_daphne(env: dict[str, str]) -> Daphne:
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen([*command, "voiceapp.asgi:application"], cwd=ROOT, env=env)
    server = Daphne(port, process)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        try:
            return httpx.get(f"{server.origin}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    _wait(healthy, "daphne")
    return server


def _wait(ready, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {START_TIMEOUT_SECONDS} s")


def conversation_row(database_url: str, conversation_id: int) -> tuple[str, str]:
    with psycopg.connect(database_url) as db:
        row = db.execute(
            "SELECT status, end_reason FROM conversations_conversation WHERE id = %s",
            [conversation_id],
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def turn_rows(database_url: str, conversation_id: int) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as db:
        return db.execute(
            "SELECT role, text FROM conversations_turn WHERE conversation_id = %s"
            " ORDER BY position",
            [conversation_id],
        ).fetchall()


def turn_items(database_url: str, conversation_id: int) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as db:
        return db.execute(
            "SELECT item_id, text FROM conversations_turn WHERE conversation_id = %s",
            [conversation_id],
        ).fetchall()


def execute(database_url: str, sql: str, *params: object) -> None:
    with psycopg.connect(database_url) as db:
        db.execute(sql, params)
