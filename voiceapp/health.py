"""Health endpoints for load balancers: unauthenticated and revealing nothing but ok / not ok.

``/healthz`` says the process serves requests; ``/readyz`` also needs the database and the channel
layer. Both are exempt from the HTTPS redirect (settings.SECURE_REDIRECT_EXEMPT) because probes
talk to Daphne directly over plain HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)

# Probes run concurrently, each bounded, so a dead dependency answers 503 well within the few
# seconds a load balancer waits, instead of hanging on a TCP connect until the balancer gives up.
PROBE_TIMEOUT_SECONDS = 2.0


@login_not_required
@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    finally:
        # The probe's thread is its own (see readyz): give its connection back at once.
        connection.close()


async def _channel_layer_ok() -> bool:
    """A message sent to a fresh channel comes back: Redis (or the in-memory layer) round-trips."""
    layer = get_channel_layer()
    if layer is None:
        return False
    channel = await layer.new_channel()
    marker = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.ping", "marker": marker})
    message = await layer.receive(channel)
    return message.get("marker") == marker


async def _probe(name: str, check: Callable[[], Awaitable[bool]]) -> bool:
    """True if the check passes in time; the reason for a failure goes to the log only."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            if await check():
                return True
        logger.error("readiness probe failed", extra={"probe": name})
    except TimeoutError:
        logger.error("readiness probe timed out", extra={"probe": name})
    except Exception:
        logger.exception("readiness probe raised", extra={"probe": name})
    return False


@login_not_required
@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the channel layer both answer; details go to the log, not the response."""
    results = await asyncio.gather(
        # Not on Django's shared sync thread: a hanging connect there would hold up every
        # other sync call of this process, this response's own clean-up included.
        _probe("database", sync_to_async(_database_ok, thread_sensitive=False)),
        _probe("channel_layer", _channel_layer_ok),
    )
    if all(results):
        return JsonResponse({"status": "ok"})
    return JsonResponse({"status": "unavailable"}, status=503)
