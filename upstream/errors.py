"""One error type for everything that can go wrong upstream, with a message fit for the user."""

from __future__ import annotations

import aiohttp
import httpx

# Status → (code, what the user is told). The upstream's own message may reveal account details
# (quota, organisation), so it goes to the log, never to the browser.
_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("upstream_rejected", "The voice service refused the request."),
    401: ("upstream_unauthorized", "The voice service refused our credentials."),
    403: ("upstream_forbidden", "The voice service does not allow this request."),
    404: ("upstream_not_found", "The voice service no longer knows this call."),
    429: ("upstream_rate_limited", "The voice service is busy or over quota."),
}


class UpstreamError(Exception):
    """A failed upstream call: `code` is stable for programs, `message` is shown to the user."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def from_status(response: httpx.Response) -> UpstreamError:
    """Map a non-success HTTP response to an UpstreamError."""
    return for_status(response.status_code, response.headers.get("retry-after", "").strip())


def for_status(status: int, retry_after: str = "") -> UpstreamError:
    code, message = _BY_STATUS.get(status, ("upstream_unavailable", ""))
    if status == 429:
        if retry_after.isdigit():
            message += f" Try again in {int(retry_after)} s."
    elif status >= 500 or not message:
        message = "The voice service is unavailable. Try again shortly."
    return UpstreamError(code, message, status)


def bad_response(detail: str, status: int | None = None) -> UpstreamError:
    """The upstream answered, but not in the shape the API promises."""
    return UpstreamError(
        "upstream_bad_response", f"The voice service sent an unusable answer ({detail}).", status
    )


def from_transport(exc: Exception) -> UpstreamError:
    """A request that got no usable answer: too late, garbled, or none (refused, dropped).

    Judged by the error aiohttp raised when there is one: httpx-aiohttp's translation names a
    refused connection and a dropped one `ConnectTimeout`."""
    cause = exc.__cause__
    judged = cause if isinstance(cause, (aiohttp.ClientError, TimeoutError)) else exc
    if isinstance(judged, aiohttp.ClientResponseError):  # not HTTP: a bad status line or header
        return bad_response("malformed HTTP")
    if isinstance(judged, (TimeoutError, httpx.TimeoutException)):
        return UpstreamError("upstream_timeout", "The voice service did not answer in time.")
    return UpstreamError("upstream_unreachable", "The voice service cannot be reached.")
