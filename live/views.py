"""The Live page: everything after page load comes over `/ws/live/`."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from live import access


def live(request: HttpRequest) -> HttpResponse:
    # Signed-in users without access get 403 (anonymous ones are sent to sign in first).
    if not access.may_watch(request.user):
        raise PermissionDenied
    return render(request, "live/live.html")
