"""Fixtures for the Live tests: the signaling suite's stub upstream and cookies, staff's cookie,
and (for the cross-process tests) a team deployment: two Daphne processes, PostgreSQL, Redis."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.engine.conftest import engine, running_engine  # noqa: F401
from tests.environment import require
from tests.live import processes
from tests.live.processes import RedisServer, Team
from tests.signaling.client import session_cookie
from tests.signaling.conftest import owner_cookie, stranger_cookie, stub  # noqa: F401


@pytest.fixture
def staff_cookie(staff_client) -> str:
    return session_cookie(staff_client)


@pytest.fixture(scope="module")
def team() -> Iterator[Team]:
    require(processes.answers(5432), "no PostgreSQL at 127.0.0.1:5432")
    require(shutil.which("redis-server") is not None, "no redis-server (apt-get install redis)")
    redis = RedisServer()
    redis.start()
    try:
        with running_engine() as engine, processes.scratch_database() as database_url:
            env = processes.environment(
                database_url=database_url, redis_url=redis.url, engine=engine
            )
            processes.manage(env, "migrate", "--noinput", "-v", "0")
            caller, watcher = processes.signed_in_sessions(env)
            a, b = processes.start_daphne(env), processes.start_daphne(env)
            try:
                yield Team(engine, redis, database_url, env, a, b, caller, watcher)
            finally:
                a.stop()
                b.stop()
    finally:
        redis.stop()
