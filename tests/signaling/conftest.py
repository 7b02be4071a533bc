"""Fixtures for the signaling and upstream tests: a stub upstream, users, socket clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from signaling import messages
from tests.signaling.client import session_cookie
from tests.signaling.stub_upstream import StubUpstream
from upstream import realtime


async def _serving(server: StubUpstream, settings) -> AsyncIterator[StubUpstream]:
    await server.start()
    settings.OPENAI_BASE_URL = server.base_url
    settings.REALTIME_API_KEY = "sk-stub-server-key"
    yield server
    await realtime.close_client()
    await server.stop()


@pytest_asyncio.fixture
async def stub(settings) -> AsyncIterator[StubUpstream]:
    """A real HTTP server on a free port, set as the upstream for this test."""
    async for server in _serving(StubUpstream(), settings):
        yield server


@pytest_asyncio.fixture
async def keep_alive_stub(settings) -> AsyncIterator[StubUpstream]:
    """The same, keeping its connections open between requests as a real upstream does."""
    async for server in _serving(StubUpstream(keep_alive=True), settings):
        yield server


@pytest.fixture
def fast_timeout(settings) -> None:
    settings.REALTIME_HTTP_TIMEOUT = 1


@pytest.fixture
def owner_cookie(owner_client) -> str:
    return session_cookie(owner_client)


@pytest.fixture
def stranger_cookie(stranger_client) -> str:
    return session_cookie(stranger_client)


@pytest.fixture
def short_grace(monkeypatch) -> None:
    """Abandoned calls end after 0.3 s instead of the production grace."""
    monkeypatch.setattr(messages, "RESUME_GRACE_SECONDS", 0.3)


# The engine tests' fixture: the local engine as a real server on a free port (session-wide).
from tests.engine.conftest import engine  # noqa: E402, F401
