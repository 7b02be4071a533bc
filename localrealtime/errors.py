"""OpenAI's error shape, for HTTP answers and in-session `error` events alike."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

STATUS_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
}


def error_body(
    message: str, *, code: str | None, param: str | None = None, type: str = "invalid_request_error"
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code, "param": param}}


def error_response(
    status: int, message: str, *, code: str | None, param: str | None = None
) -> JsonResponse:
    body = error_body(message, code=code, param=param, type=STATUS_TYPES.get(status, "api_error"))
    response = JsonResponse(body, status=status)
    if status in (429, 503):
        response["Retry-After"] = "5"
    return response


def invalid_key() -> JsonResponse:
    return error_response(
        401, "Incorrect API key provided, or the key has expired.", code="invalid_api_key"
    )
