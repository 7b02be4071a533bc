"""Stand-ins for a channel layer or database that is gone: real sockets, nothing mocked."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A local port nothing listens on, picked now so parallel runs do not collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_layer(url: str) -> dict[str, object]:
    """CHANNEL_LAYERS for a Redis layer at `url`."""
    return {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }
