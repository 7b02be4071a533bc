"""Who is calling: the server key, an ephemeral key, or nobody.

The server key is `LOCAL_REALTIME_API_KEY`; ephemeral keys live in `keys.store` and are spent
when redeemed.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from django.conf import settings

SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def subprotocol_key(subprotocols: Iterable[str]) -> str | None:
    for protocol in subprotocols:
        if protocol.startswith(SUBPROTOCOL_KEY_PREFIX):
            return protocol[len(SUBPROTOCOL_KEY_PREFIX) :] or None
    return None


def is_server_key(token: str | None) -> bool:
    expected = settings.LOCAL_REALTIME_API_KEY
    return bool(token) and hmac.compare_digest(token.encode(), expected.encode())


def is_ephemeral(token: str | None) -> bool:
    return bool(token) and token.startswith("ek_")


def is_beta_request(openai_beta_header: str | None) -> bool:
    return "realtime=v1" in (openai_beta_header or "").replace(" ", "")
