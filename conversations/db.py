"""Running ORM work from async code (consumers, the sideband watcher): one place that decides
on which thread it runs.

Channels' `database_sync_to_async` runs everything on asgiref's one thread-sensitive thread, so
every call set-up, end and stored batch of a process waits in one queue, one query at a time.
With PostgreSQL and psycopg's pool (voiceapp/settings.py) that is not needed: each unit of work
takes a pooled connection on a thread of the loop's executor, and conversations commit side by
side. SQLite keeps the one thread: it has a single writer anyway, and the test database is a
shared-cache in-memory one that other threads' writes would corrupt or lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.db import close_old_connections, connections

P = ParamSpec("P")
T = TypeVar("T")


@functools.cache
def parallel() -> bool:
    """True when ORM work may run on any thread: PostgreSQL with its connection pool. (Fixed for
    the process's life, so asked once.)"""
    connection = connections["default"]
    pooled = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
    return connection.vendor == "postgresql" and pooled


async def run(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Await `func(*args, **kwargs)`, one unit of ORM work (usually one transaction), off the
    event loop: on the executor's threads with PostgreSQL's pool, on the one
    thread-sensitive thread otherwise. Old connections are closed around it as Channels does."""
    work = database_sync_to_async(_unit, thread_sensitive=not parallel())
    return await work(func, *args, **kwargs)


def _unit(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`func`, with the thread's connection given back to the pool when it is done.

    Channels closes old connections around the call too, but outside the context asgiref (3.13)
    runs the function in: off the thread-sensitive thread that close saw another thread-local
    slot, so every unit of work kept its pooled connection checked out until the pool ran dry
    (PoolTimeout after ~20 calls; tests/conversations/test_db.py). Closing inside the function's
    own context returns it."""
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()


async def close_idle_connection() -> None:
    """Close the one thread's SQLite connection between two units of work; the next reopens it.

    An open sqlite3 connection keeps a weak reference to every cursor it made, and drops the dead
    ones only every 200 cursors. After a wave of sockets (a query or two each) up to 199 of them
    are left, each one a small object keeping a 1 MiB arena of CPython's allocator from going
    back (signaling.memory; 2,000 sockets opened and closed: most of what stayed). With the pool
    each unit of work gives its connection back already, and an in-memory SQLite database (the
    tests') is never closed by Django: both are left as they are."""
    if not parallel():
        await database_sync_to_async(connections.close_all, thread_sensitive=True)()
