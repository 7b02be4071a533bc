"""Health endpoints for load balancers: unauthenticated and revealing nothing but ok / not ok."""

from __future__ import annotations

import logging
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)


@login_not_required
@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


async def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    marker = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.ping", "marker": marker})
    message = await layer.receive(channel)
    return message.get("marker") == marker


@login_not_required
@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the channel layer both answer; details go to the log, not the response."""
    checks = {"database": sync_to_async(_database_ok), "channel_layer": _channel_layer_ok}
    failed = []
    for name, probe in checks.items():
        try:
            ok = await probe()
        except Exception:
            logger.exception("readiness probe failed", extra={"probe": name})
            ok = False
        if not ok:
            failed.append(name)
    status = 200 if not failed else 503
    return JsonResponse({"status": "ok" if not failed else "unavailable"}, status=status)
