"""Closing the engine's calls when Daphne shuts down.

Daphne (Twisted) does not exit while an aiortc peer connection is open (see
../shared/field-notes.md), so every serving process that hosts the engine asks the reactor to
end all calls first. Outside Daphne (tests driving the ASGI app directly) there is no reactor
running and nothing to do.
"""

from __future__ import annotations

import asyncio
import sys


def end_calls_before_shutdown() -> bool:
    """Register the hook with the running Twisted reactor; False when there is none."""
    if "twisted.internet.reactor" not in sys.modules:
        return False
    from twisted.internet import defer, reactor

    from localrealtime.peer import end_all_calls

    reactor.addSystemEventTrigger(
        "before",
        "shutdown",
        lambda: defer.Deferred.fromFuture(asyncio.ensure_future(end_all_calls())),
    )
    return True
