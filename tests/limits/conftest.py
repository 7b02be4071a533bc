"""The signaling suite's fixtures: a stub upstream and signed-in socket cookies."""

from tests.engine.conftest import engine  # noqa: F401
from tests.signaling.conftest import owner_cookie, stranger_cookie, stub  # noqa: F401
