"""CORS for the engine's API views: a browser on another origin may post its offer and read
`Location`. Credentials are bearer keys, never cookies, so any origin may be allowed."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from django.http import HttpRequest, HttpResponse

View = Callable[..., Awaitable[HttpResponse]]
ALLOWED_METHODS = "POST, GET, OPTIONS"
DEFAULT_HEADERS = "Authorization, Content-Type, OpenAI-Beta, OpenAI-Organization, OpenAI-Project"


def allow_cross_origin(view: View) -> View:
    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            requested = request.headers.get("Access-Control-Request-Headers")
            response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response["Access-Control-Allow-Headers"] = requested or DEFAULT_HEADERS
            response["Access-Control-Max-Age"] = "600"
        else:
            response = await view(request, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = request.headers.get("Origin") or "*"
        response["Access-Control-Expose-Headers"] = "Location"
        response["Vary"] = "Origin"
        return response

    return wrapper
