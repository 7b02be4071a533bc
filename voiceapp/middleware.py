"""Request ids: one per request, in the response header and on every log line of that request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from voiceapp.logging import bind_log_context

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept so one id follows the request across nginx and Daphne, but it lands in
# logs and a response header: anything long or with odd characters could forge log fields.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")

access_logger = logging.getLogger("voiceapp.request")

Handler = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


def request_id_for(request: HttpRequest) -> str:
    """The incoming X-Request-ID if it looks sane, otherwise a fresh random one."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds a request id for logging, echoes it in X-Request-ID and logs one access line.

    Daphne runs with its plain-text access log off (``-v 0``), so this JSON line replaces it.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        request.request_id = request_id_for(request)
        started = time.monotonic()
        with bind_log_context(request_id=request.request_id):
            response = self.get_response(request)
            return self._finish(request, response, started)  # type: ignore[arg-type]

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        request.request_id = request_id_for(request)
        started = time.monotonic()
        with bind_log_context(request_id=request.request_id):
            response = await self.get_response(request)  # type: ignore[misc]
            return self._finish(request, response, started)

    def _finish(
        self, request: HttpRequest, response: HttpResponseBase, started: float
    ) -> HttpResponseBase:
        response[REQUEST_ID_HEADER] = request.request_id
        # The path without its query string: queries may carry tokens that logs must not keep.
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                # With --proxy-headers, Daphne puts nginx's X-Forwarded-For here.
                "client": request.META.get("REMOTE_ADDR"),
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response
