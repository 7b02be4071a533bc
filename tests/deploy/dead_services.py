"""Stand-ins for a channel layer or database that is gone: real sockets, nothing mocked."""

from __future__ import annotations

from tests.environment import free_port

# A local port nothing listens on, picked now so parallel runs do not collide.
closed_port = free_port


def redis_layer(url: str) -> dict[str, object]:
    """CHANNEL_LAYERS for a Redis layer at `url`."""
    return {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }
