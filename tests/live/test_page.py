"""The Live page: staff only; the nav links to it for staff alone."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_staff_get_the_live_page(staff_client):
    response = staff_client.get("/live/")

    assert response.status_code == 200
    assert b'data-testid="live-page"' in response.content
    assert b"js/live-page.js" in response.content


def test_signed_in_users_who_are_not_staff_get_403(stranger_client):
    response = stranger_client.get("/live/")

    assert response.status_code == 403
    assert b"live-page" not in response.content


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/live/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_nav_links_to_live_for_staff_only(staff_client, stranger_client):
    assert b'href="/live/"' in staff_client.get("/").content
    assert b'href="/live/"' not in stranger_client.get("/").content
