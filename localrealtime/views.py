"""The engine's HTTP API: client secrets, calls, hang-up (OpenAI's GA paths and shapes)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from localrealtime import auth, config, runtime
from localrealtime.cors import allow_cross_origin
from localrealtime.errors import error_response, invalid_key
from localrealtime.events import new_id
from localrealtime.keys import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS, store
from localrealtime.peer import InvalidOffer, start_call

MAX_SDP_BYTES = 64 * 1024
MAX_SESSION_BYTES = 64 * 1024
MAX_BODY_BYTES = MAX_SDP_BYTES + MAX_SESSION_BYTES + 8 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.param = status, code, param

    def response(self) -> JsonResponse:
        return error_response(self.status, str(self), code=self.code, param=self.param)


def api_view(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Any]:
    """Public (bearer-authenticated), CSRF-exempt, CORS-enabled, POST-only; ApiError → JSON."""

    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return error_response(405, "Use POST.", code="method_not_allowed")
        if int(request.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
            return error_response(413, "The request body is too large.", code="body_too_large")
        try:
            return await view(request, *args, **kwargs)
        except ApiError as exc:
            return exc.response()
        except config.ConfigError as exc:
            return ApiError(400, str(exc), exc.code, exc.param).response()

    wrapper.__name__ = view.__name__
    return login_not_required(csrf_exempt(allow_cross_origin(wrapper)))


def _token(request: HttpRequest) -> str | None:
    return auth.bearer_token(request.headers.get("Authorization"))


def _refuse_beta(request: HttpRequest) -> None:
    if auth.is_beta_request(request.headers.get("OpenAI-Beta")):
        raise ApiError(
            400,
            "The beta Realtime interface has been retired; use the GA interface.",
            "beta_api_shape_disabled",
        )


@api_view
async def beta_sessions(request: HttpRequest) -> HttpResponse:
    raise ApiError(
        400,
        "POST /v1/realtime/sessions was retired with the beta interface; use "
        "/v1/realtime/client_secrets.",
        "beta_api_shape_disabled",
    )


@api_view
async def client_secrets(request: HttpRequest) -> HttpResponse:
    _refuse_beta(request)
    if not auth.is_server_key(_token(request)):
        return invalid_key()
    body = _json(request.body, "body")
    if config.is_beta_shape(body) or "model" in body:
        raise ApiError(
            400,
            "Beta-shaped request: put the configuration under `session`.",
            "beta_api_shape_disabled",
        )
    session = _session(body.get("session"), required=True)
    ttl = _ttl(body.get("expires_after"))
    key = store.issue(session=session, ttl_seconds=ttl, now=time.time())
    return JsonResponse({"value": key.value, "expires_at": key.expires_at, "session": session})


@api_view
async def calls(request: HttpRequest) -> HttpResponse:
    _refuse_beta(request)
    token = _token(request)
    offer, session = _offer_and_session(request)
    if not runtime.slots().acquire():
        raise ApiError(
            503,
            "The local engine is carrying all the calls it can; retry later.",
            "engine_at_capacity",
        )
    try:
        session = _authorise_call(token, session)
    except BaseException:
        runtime.slots().release()
        raise
    try:
        # From here the call owns the slot: ending it, even on a failed answer, frees it.
        call = await start_call(offer, session)
    except InvalidOffer as exc:
        raise ApiError(400, f"Invalid SDP offer: {exc}", "invalid_offer", "sdp") from exc
    runtime.loop_lag.ensure_running()
    response = HttpResponse(
        call.pc.localDescription.sdp, status=201, content_type="application/sdp"
    )
    response["Location"] = f"/v1/realtime/calls/{call.id}"
    return response


@api_view
async def hangup(request: HttpRequest, call_id: str) -> HttpResponse:
    if not auth.is_server_key(_token(request)):
        return invalid_key()
    call = runtime.calls.get(call_id)
    if call is None:
        raise ApiError(404, f"Call '{call_id}' not found.", "call_id_not_found", "call_id")
    await call.end()
    return HttpResponse(status=200)


@login_not_required
async def engine_stats(request: HttpRequest) -> HttpResponse:
    """Not an OpenAI path: the engine's own gauges, for benchmarks (server key)."""
    if not auth.is_server_key(_token(request)):
        return invalid_key()
    slots = runtime.slots()
    return JsonResponse(
        {
            "sessions": slots.used,
            "max_sessions": slots.limit,
            "calls": len(runtime.calls.all()),
            "worst_loop_lag_ms": round(runtime.loop_lag.worst_ms, 1),
        }
    )


# --- parsing -------------------------------------------------------------------------------
def _offer_and_session(request: HttpRequest) -> tuple[str, dict[str, Any] | None]:
    if request.content_type == "application/sdp":
        return _sdp(request.body), None
    if request.content_type != "multipart/form-data":
        raise ApiError(400, "Send application/sdp or multipart/form-data.", "invalid_request")
    sdp = _field(request, "sdp")
    if sdp is None:
        raise ApiError(
            400, "Missing required parameter: 'sdp'.", "missing_required_parameter", "sdp"
        )
    raw_session = _field(request, "session")
    if raw_session is not None and len(raw_session) > MAX_SESSION_BYTES:
        raise ApiError(400, "`session` is too large.", "invalid_value", "session")
    session = None if raw_session is None else _json(raw_session.encode(), "session")
    return _sdp(sdp.encode()), session


def _field(request: HttpRequest, name: str) -> str | None:
    if name in request.POST:
        return request.POST[name]
    upload = request.FILES.get(name)
    return upload.read().decode(errors="replace") if upload is not None else None


def _sdp(raw: bytes) -> str:
    if len(raw) > MAX_SDP_BYTES:
        raise ApiError(400, f"The SDP offer exceeds {MAX_SDP_BYTES} bytes.", "invalid_offer", "sdp")
    text = raw.decode(errors="replace").replace("\r\n", "\n").replace("\n", "\r\n")
    if not text.startswith("v=0") or "\r\nm=audio " not in text:
        raise ApiError(
            400, "Invalid SDP offer: expected an SDP with an audio section.", "invalid_offer", "sdp"
        )
    return text


def _authorise_call(token: str | None, session: dict[str, Any] | None) -> dict[str, Any]:
    if auth.is_server_key(token):
        return _session(session or {"type": "realtime"}, required=False)
    key = store.redeem(token, now=time.time()) if auth.is_ephemeral(token) else None
    if key is None:
        raise ApiError(
            401, "Incorrect API key provided, or the key has expired.", "invalid_api_key"
        )
    return config.merged(key.session, session) if session else key.session


def _session(raw: Any, *, required: bool) -> dict[str, Any]:
    if required and (not isinstance(raw, dict) or "type" not in raw):
        raise ApiError(
            400,
            "Missing required parameter: 'session.type'.",
            "missing_required_parameter",
            "session.type",
        )
    model = (raw or {}).get("model") or settings.REALTIME_MODEL
    base = config.default_session(model=model, voice=settings.REALTIME_VOICE)
    return {**config.merged(base, raw), "id": new_id("sess")}


def _ttl(expires_after: Any) -> int:
    if expires_after is None:
        return DEFAULT_TTL_SECONDS
    seconds = expires_after.get("seconds") if isinstance(expires_after, dict) else None
    anchor = expires_after.get("anchor", "created_at") if isinstance(expires_after, dict) else None
    if anchor != "created_at" or not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ApiError(
            400,
            "`expires_after` must be {anchor: created_at, seconds: N}.",
            "invalid_value",
            "expires_after",
        )
    if not MIN_TTL_SECONDS <= seconds <= MAX_TTL_SECONDS:
        bounds = f"{MIN_TTL_SECONDS}..{MAX_TTL_SECONDS}"
        raise ApiError(
            400,
            f"`expires_after.seconds` must be in {bounds}.",
            "invalid_value",
            "expires_after.seconds",
        )
    return seconds


def _json(raw: bytes, param: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON in `{param}`: {exc}", "invalid_json", param) from exc
    if not isinstance(value, dict):
        raise ApiError(400, f"`{param}` must be a JSON object.", "invalid_value", param)
    return value
