"""The database a benchmark's Daphne runs on: SQLite in the run's folder or a PostgreSQL database
created for the run (and dropped after), migrated, with signed-in users.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench.servers import REPO, Server, python, upstream_env

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SETUP_TIMEOUT = 300.0


def voiceapp_env(database_url: str, upstream: Server, **upstream_options: str) -> dict[str, str]:
    """Production-like settings: DEBUG off (so no per-query bookkeeping), `upstream` (the stub
    unless told otherwise: `key`, `prefix`) as the Realtime API."""
    return {
        "DJANGO_SETTINGS_MODULE": "voiceapp.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + secrets.token_hex(24),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        **upstream_env(upstream, **upstream_options),
    }


def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'bench.sqlite3'}"


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:  # any failure means "not usable here", which the caller reports
        return False


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database named for this run; dropped afterwards."""
    import psycopg

    name = f"voiceapp_bench_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_django(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        python(*args),
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT,
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare(env: dict[str, str], users: int) -> list[str]:
    """Migrate the database named by `env` and return `users` session keys."""
    run_django(env, "manage.py", "migrate", "--noinput")
    return json.loads(run_django(env, "-m", "bench.accounts", str(users)).strip().splitlines()[-1])
