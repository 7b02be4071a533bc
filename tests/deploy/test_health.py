"""/healthz and /readyz: open to anonymous probes, 503 when a dependency fails, nothing revealed."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from pytest_django import Settings

from tests.deploy.dead_services import closed_port, redis_layer
from tests.deploy.http import get
from tests.environment import require
from voiceapp.health import PROBE_TIMEOUT_SECONDS

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that completes TCP handshakes and then never says a word, like a wedged Redis."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


async def test_healthz_answers_an_anonymous_client() -> None:
    response = await get("/healthz")

    assert response.status == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response.headers["cache-control"]


async def test_readyz_answers_an_anonymous_client_when_everything_is_up() -> None:
    response = await get("/readyz")

    assert response.status == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response.headers["cache-control"]


async def test_readyz_is_ok_on_the_redis_channel_layer(settings: Settings) -> None:
    require(bool(settings.REDIS_URL), "REDIS_URL is unset (the Redis channel layer is not in use)")
    settings.CHANNEL_LAYERS = redis_layer(settings.REDIS_URL)

    response = await get("/readyz")

    assert response.status == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_503_when_the_channel_layer_port_is_closed(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{closed_port()}/0")

    response = await get("/readyz")

    assert response.status == 503
    assert response.json() == {"status": "unavailable"}
    assert {r.probe for r in caplog.records if r.name == "voiceapp.health"} == {"channel_layer"}


async def test_readyz_gives_up_on_a_silent_channel_layer_in_time(
    settings: Settings, silent_server: int
) -> None:
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{silent_server}/0")

    started = time.monotonic()
    response = await get("/readyz", within=PROBE_TIMEOUT_SECONDS + 5)

    assert response.status == 503
    assert response.json() == {"status": "unavailable"}
    assert time.monotonic() - started < PROBE_TIMEOUT_SECONDS + 1.5


@pytest.fixture
def unreachable_database(tmp_path: os.PathLike[str]) -> Iterator[None]:
    """New connections (each request thread opens one) fail; the test's own one is untouched."""
    saved = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = os.path.join(tmp_path, "missing", "db.sqlite3")
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    _drop_pool()
    yield
    connection.settings_dict.update(saved)
    _drop_pool()


def _drop_pool() -> None:
    # A PostgreSQL pool keeps the connections it made: rebuild it from the current settings.
    if getattr(connection, "pool", None) is not None:
        connection.close_pool()


@pytest.mark.usefixtures("unreachable_database")
async def test_readyz_is_503_when_the_database_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await get("/readyz")

    assert response.status == 503
    assert response.json() == {"status": "unavailable"}
    assert {r.probe for r in caplog.records if r.name == "voiceapp.health"} == {"database"}


async def test_a_failing_probe_reveals_nothing_but_the_status(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{port}/0")
    caplog.set_level(logging.ERROR, logger="voiceapp.health")

    response = await get("/readyz")

    assert response.body == b'{"status": "unavailable"}'
    assert str(port) not in str(response.headers)
    assert any(r.exc_info for r in caplog.records), "the reason must reach the log instead"


async def test_healthz_does_not_touch_the_database_or_channel_layer(
    settings: Settings,
) -> None:
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{closed_port()}/0")

    response = await get("/healthz", within=5)

    assert response.status == 200
    assert response.json() == {"status": "ok"}
