"""Fixtures of other suites: the stub upstream and socket cookies (signaling), the engine, and
the browser suite's app and page (for the Talk page test)."""

from tests.browser.conftest import app, browser, page, socket_frames, spoken_wav  # noqa: F401
from tests.engine.conftest import engine  # noqa: F401
from tests.signaling.conftest import owner_cookie, stranger_cookie, stub  # noqa: F401
