"""The Talk (voice) and Chat (text) pages. Everything after page load goes over the socket."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def _call_options() -> dict[str, object]:
    return {
        "voices": settings.REALTIME_VOICES,
        "default_voice": settings.REALTIME_VOICE,
        "direct_enabled": settings.REALTIME_DIRECT_MODE_ENABLED,
    }


def talk(request: HttpRequest) -> HttpResponse:
    return render(request, "signaling/talk.html", _call_options())


def chat(request: HttpRequest) -> HttpResponse:
    return render(request, "signaling/chat.html")
