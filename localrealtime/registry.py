"""Where live calls are found by id, and how many sessions the engine may carry at once.

The registry is an interface so that a sideband watcher in another process can later reach a
call through a shared implementation; `InMemoryCallRegistry` serves one process.
"""

from __future__ import annotations

import threading
from typing import Protocol, TypeVar

CallT = TypeVar("CallT")


class CallRegistry(Protocol[CallT]):
    def add(self, call_id: str, call: CallT) -> None: ...
    def get(self, call_id: str) -> CallT | None: ...
    def remove(self, call_id: str) -> CallT | None: ...
    def all(self) -> list[CallT]: ...


class InMemoryCallRegistry(CallRegistry[CallT]):
    def __init__(self) -> None:
        self._calls: dict[str, CallT] = {}

    def add(self, call_id: str, call: CallT) -> None:
        self._calls[call_id] = call

    def get(self, call_id: str) -> CallT | None:
        return self._calls.get(call_id)

    def remove(self, call_id: str) -> CallT | None:
        return self._calls.pop(call_id, None)

    def all(self) -> list[CallT]:
        return list(self._calls.values())


class SessionSlots:
    """A bounded count of live sessions (calls and WebSocket sessions): full means refuse."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.used >= self.limit:
                return False
            self.used += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.used = max(0, self.used - 1)
