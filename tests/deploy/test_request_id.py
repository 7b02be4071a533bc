"""RequestIdMiddleware: every response and every log line of a request carry the request's id."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from django.test import Client
from pytest_django import Settings

from tests.deploy.dead_services import closed_port, redis_layer
from tests.deploy.http import get
from voiceapp.logging import LogContextFilter, bind_log_context

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def context_caplog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog with the filter settings.LOGGING puts on the stdout handler, so records get ids."""
    log_filter = LogContextFilter()
    caplog.handler.addFilter(log_filter)
    caplog.set_level(logging.INFO)
    yield caplog
    caplog.handler.removeFilter(log_filter)


@pytest.mark.asyncio
async def test_a_request_without_an_id_gets_a_fresh_one() -> None:
    first = await get("/healthz")
    second = await get("/healthz")

    assert GENERATED_ID.fullmatch(first.headers["x-request-id"])
    assert GENERATED_ID.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.asyncio
async def test_a_sane_incoming_id_is_kept() -> None:
    response = await get("/healthz", headers={"X-Request-ID": "nginx-1f3a.9C_07"})

    assert response.headers["x-request-id"] == "nginx-1f3a.9C_07"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "incoming",
    [
        "short",
        "x" * 129,
        "has spaces in it",
        'forged", "level": "ERROR',
        "id\u00e9\u00e9\u00e9\u00e9\u00e9",
    ],
    ids=["too short", "too long", "spaces", "quotes", "non-ascii"],
)
async def test_an_unsafe_incoming_id_is_replaced(incoming: str) -> None:
    response = await get("/healthz", headers={"X-Request-ID": incoming})

    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


@pytest.mark.django_db
def test_the_sync_middleware_chain_sets_the_header_too() -> None:
    # Django's test Client runs the chain synchronously: the middleware's sync path.
    response = Client().get("/healthz", headers={"X-Request-ID": "sync-path-0001"})

    assert response.status_code == 200
    assert response["X-Request-ID"] == "sync-path-0001"


@pytest.mark.asyncio
async def test_the_access_line_carries_the_request_id(
    context_caplog: pytest.LogCaptureFixture,
) -> None:
    response = await get("/healthz", headers={"X-Request-ID": "access-line-0001"})

    [line] = [r for r in context_caplog.records if r.name == "voiceapp.request"]
    assert line.request_id == response.headers["x-request-id"] == "access-line-0001"
    assert (line.method, line.path, line.status) == ("GET", "/healthz", 200)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_log_lines_from_inside_the_view_carry_the_request_id(
    settings: Settings, context_caplog: pytest.LogCaptureFixture
) -> None:
    # A dead channel layer makes the readiness view itself log, from a probe task.
    settings.CHANNEL_LAYERS = redis_layer(f"redis://127.0.0.1:{closed_port()}/0")
    response = await get("/readyz", headers={"X-Request-ID": "inside-view-0001"})

    probe_lines = [r for r in context_caplog.records if r.name == "voiceapp.health"]
    assert response.status == 503
    assert probe_lines
    assert {r.request_id for r in probe_lines} == {"inside-view-0001"}


def test_a_bound_conversation_id_is_on_records_inside_the_block_only(
    context_caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("signaling.test")

    with bind_log_context(request_id="outer-request-1"):
        with bind_log_context(conversation_id=42):
            logger.info("inside")
        logger.info("after the conversation block")
    logger.info("outside")

    inside, after, outside = context_caplog.records
    assert (inside.request_id, inside.conversation_id) == ("outer-request-1", "42")
    assert after.request_id == "outer-request-1"
    assert not hasattr(after, "conversation_id")
    assert not hasattr(outside, "request_id")


def test_an_explicit_extra_id_wins_over_the_bound_one(
    context_caplog: pytest.LogCaptureFixture,
) -> None:
    with bind_log_context(conversation_id=1):
        logging.getLogger("signaling.test").info("x", extra={"conversation_id": "7"})

    [record] = context_caplog.records
    assert record.conversation_id == "7"
