"""Closing browser sockets with 1012 ("service restart") when Daphne shuts down (a deploy).

On SIGTERM Daphne cancels every application and stops the reactor: without this the browser
sees its socket drop with 1006, as for a network failure. With 1012 it knows the server is
restarting; it reconnects (to another process) and resumes its call.

The consumers cannot send 1012 themselves: Autobahn, under Daphne, refuses any application close
code but 1000 and 3000-4999 ("invalid close code 1012"). So the frames are sent at the protocol
level, to every open WebSocket of this process's Daphne server, as Daphne itself sends 1011.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)

SERVICE_RESTART = 1012
# Twisted drops what is still unsent on every connection once the "before shutdown" triggers
# are done: the close frames get this long on the wire (and the browsers' replies to come back).
_FLUSH_SECONDS = 0.5


def close_sockets_before_shutdown() -> bool:
    """Register with the running Twisted reactor (under Daphne); False when there is none."""
    if "twisted.internet.reactor" not in sys.modules:
        return False
    from twisted.internet import defer, reactor

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(close_all()))
    )
    return True


async def close_all() -> None:
    sockets = _open_sockets()
    logger.info("closing sockets for a restart", extra={"count": len(sockets)})
    for protocol in sockets:
        protocol.sendCloseFrame(code=SERVICE_RESTART, reasonUtf8=b"service restart")
    if sockets:
        await asyncio.sleep(_FLUSH_SECONDS)


def _open_sockets() -> list[Any]:
    """The open WebSockets of every Daphne server listening in this process."""
    from daphne.http_protocol import HTTPFactory
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import reactor

    factories = [getattr(reader, "factory", None) for reader in reactor.getReaders()]
    servers = {factory.server for factory in factories if isinstance(factory, HTTPFactory)}
    return [
        protocol
        for server in servers
        for protocol in list(server.connections)
        if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN
    ]
