"""Ephemeral keys (`ek_…`): issued bound to a session configuration, single-use, expiring.

OpenAI's specification lets one key start several sessions until it expires, but reuse has been
seen refused, so this store treats every key as single-use: callers must not rely on reuse.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

MIN_TTL_SECONDS, MAX_TTL_SECONDS, DEFAULT_TTL_SECONDS = 10, 7200, 600


@dataclass(frozen=True)
class EphemeralKey:
    value: str
    expires_at: int
    session: dict[str, Any]


class KeyStore:
    """In-process store; `now` is passed in (unix seconds) so tests and callers own the clock."""

    def __init__(self) -> None:
        self._keys: dict[str, EphemeralKey] = {}
        self._lock = threading.Lock()

    def issue(self, *, session: dict[str, Any], ttl_seconds: int, now: float) -> EphemeralKey:
        key = EphemeralKey(f"ek_{secrets.token_urlsafe(24)}", int(now) + ttl_seconds, session)
        with self._lock:
            self._drop_expired(now)
            self._keys[key.value] = key
        return key

    def redeem(self, value: str, *, now: float) -> EphemeralKey | None:
        """The key's session if `value` is a live key, which is then spent."""
        with self._lock:
            self._drop_expired(now)
            return self._keys.pop(value, None)

    def _drop_expired(self, now: float) -> None:
        for value in [v for v, key in self._keys.items() if key.expires_at <= now]:
            del self._keys[value]


store = KeyStore()
