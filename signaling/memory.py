"""Giving memory back to the system once many signaling sockets have closed.

Each idle socket holds about 40 KiB (Twisted's and autobahn's connection state, the consumer and
its scope; bench.capacity). When thousands close, much of that is cyclic garbage (protocol,
transport and consumer refer to each other) that the collector's oldest generation reaches only
rarely, and what is freed stays with the allocators for reuse: the process stayed at 279 MiB
after 5,000 sockets closed, against 77 MiB before them. So once a wave of closes has gone quiet,
the cycles are collected and `malloc_trim` (glibc) hands free pages back to the system: 217 MiB
after the same wave. The rest is CPython's small-object arenas (1 MiB each), which go back only
when wholly empty, and a few survivors keep most of them. With `PYTHONMALLOC=malloc` nearly all
of it goes back, for a few KiB more per socket (README, "N Daphne processes"). Both steps walk
the heap (tens of milliseconds at that size, the loop waits), so they run once per wave, not per
close. On a C library without `malloc_trim` (musl, macOS) nothing is done.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Sockets closed since the last trim before another is worth it (~4 MiB of their state).
TRIM_AFTER_CLOSED = 100
# Quiet time after the last close before the trim: the rest of a wave of closes (a proxy
# restarting, a team going home) is closed, and Daphne has let go of it, by then.
TRIM_DELAY_SECONDS = 2.0
# Closes that never pause (a busy server's steady churn) are trimmed at least this often.
TRIM_MAX_WAIT_SECONDS = 30.0


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_malloc_trim = _find_malloc_trim()


class Trimmer:
    """Counts closed sockets on one event loop and trims once they are many and quiet."""

    def __init__(self, trim: Callable[[int], int] | None = _malloc_trim) -> None:
        self._trim = trim
        self.closed = 0
        self._pending: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None

    def socket_closed(self) -> None:
        if self._trim is None:
            return
        self.closed += 1
        if self.closed < TRIM_AFTER_CLOSED:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._waiting_since is None:
            self._waiting_since = now
        if self._pending is not None:
            self._pending.cancel()
        when = min(now + TRIM_DELAY_SECONDS, self._waiting_since + TRIM_MAX_WAIT_SECONDS)
        self._pending = loop.call_at(when, self.trim_now)

    def trim_now(self) -> None:
        assert self._trim is not None
        closed, self.closed, self._pending, self._waiting_since = self.closed, 0, None, None
        began = time.perf_counter()
        gc.collect()
        self._trim(0)
        took_ms = round((time.perf_counter() - began) * 1000, 1)
        logger.info("memory trimmed", extra={"sockets_closed": closed, "ms": took_ms})


_trimmers: dict[asyncio.AbstractEventLoop, Trimmer] = {}


def socket_closed() -> None:
    """Note that a signaling socket closed (from the consumer's `disconnect`)."""
    loop = asyncio.get_running_loop()
    trimmer = _trimmers.get(loop)
    if trimmer is None:
        trimmer = _trimmers[loop] = Trimmer()
    trimmer.socket_closed()
