from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def realtime(request: HttpRequest) -> dict[str, object]:
    """Tells every page whether calls go to the local engine (the Talk page says so)."""
    return {"using_local_engine": settings.USING_LOCAL_ENGINE}
