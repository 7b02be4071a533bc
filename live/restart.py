"""Closing browser sockets with 1012 ("service restart") when Daphne shuts down (a deploy).

On SIGTERM Daphne cancels every application and stops the reactor: the browser sees its socket
drop with 1006, as for a network failure. Closing each open socket with 1012 first tells the
client the server is restarting, and it reconnects (to another process) and resumes its call.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref
from typing import Any

logger = logging.getLogger(__name__)

SERVICE_RESTART = 1012
_open: weakref.WeakSet[Any] = weakref.WeakSet()
_registered = False


def track(consumer: Any) -> None:
    """Close `consumer`'s socket with 1012 at shutdown (it is forgotten once garbage)."""
    _open.add(consumer)
    _register_once()


async def close_all() -> None:
    sockets = list(_open)
    _open.clear()
    logger.info("closing sockets for a restart", extra={"count": len(sockets)})
    await asyncio.gather(*(_close(consumer) for consumer in sockets))


async def _close(consumer: Any) -> None:
    try:
        await consumer.close(code=SERVICE_RESTART)
    except Exception:
        # One socket that is already gone must not keep the others from being told.
        logger.debug("socket already closed", exc_info=True)


def _register_once() -> None:
    """With the running Twisted reactor, as localrealtime/shutdown.py does; none in tests."""
    global _registered
    if _registered or "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(close_all()))
    )
    _registered = True
