"""With SECURE_SSL_REDIRECT on, probes talking plain HTTP to Daphne still get their answer."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django import Settings


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_over_plain_http_are_not_redirected_to_https(settings: Settings, path: str) -> None:
    settings.SECURE_SSL_REDIRECT = True
    # Django's client builds its middleware per client, so it sees the changed setting (the
    # application in asgi.py built its chain once, on its first request).
    client = Client()

    probe = client.get(path)
    page = client.get("/conversations/")

    assert probe.status_code == 200
    assert probe.json() == {"status": "ok"}
    assert page.status_code == 301
    assert page["Location"] == "https://testserver/conversations/"
