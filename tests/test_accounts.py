"""Signing in and out, what needs a signed-in user, and the first administrator."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
LOGOUT = reverse("logout")
HISTORY = reverse("conversations:list")

# Every page of this app that needs a signed-in user, as (url name, kwargs).
PRIVATE_PAGES = [
    ("conversations:list", {}),
    ("conversations:detail", {"conversation_id": 1}),
]


def signed_in_user(client: Client) -> Any:
    return client.session.get("_auth_user_id")


@pytest.mark.parametrize(("name", "kwargs"), PRIVATE_PAGES)
def test_private_pages_send_anonymous_visitors_to_sign_in(
    client: Client, name: str, kwargs: dict
) -> None:
    url = reverse(name, kwargs=kwargs)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={url}"


@pytest.mark.parametrize("name", ["login", "healthz"])
def test_sign_in_and_health_checks_are_public(client: Client, name: str) -> None:
    assert client.get(reverse(name)).status_code == 200


def test_the_admin_sends_anonymous_visitors_to_its_sign_in(client: Client) -> None:
    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_sign_in_page_is_a_form_without_the_signed_in_navigation(client: Client) -> None:
    response = client.get(LOGIN, {"next": HISTORY})

    page = response.content.decode()
    assert 'name="username"' in page
    assert 'name="password"' in page
    assert f'name="next" value="{HISTORY}"' in page
    assert "Sign out" not in page
    assert "My conversations" not in page


def test_signing_in_goes_to_the_page_asked_for(client: Client, owner: Any) -> None:
    response = client.post(
        LOGIN, {"username": "owner", "password": PASSWORD, "next": HISTORY}, follow=True
    )

    assert response.redirect_chain == [(HISTORY, 302)]
    assert signed_in_user(client) == str(owner.pk)


@override_settings(LOGIN_REDIRECT_URL="conversations:list")
def test_signing_in_without_next_goes_to_the_default_page(client: Client, owner: Any) -> None:
    response = client.post(LOGIN, {"username": "owner", "password": PASSWORD})

    assert response["Location"] == HISTORY


@override_settings(LOGIN_REDIRECT_URL="conversations:list")
def test_next_cannot_send_anyone_to_another_site(client: Client, owner: Any) -> None:
    response = client.post(
        LOGIN, {"username": "owner", "password": PASSWORD, "next": "https://evil.example/"}
    )

    assert response["Location"] == HISTORY


def test_a_wrong_password_signs_nobody_in(client: Client, owner: Any) -> None:
    response = client.post(LOGIN, {"username": "owner", "password": "wrong", "next": HISTORY})

    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert signed_in_user(client) is None


@override_settings(LOGIN_REDIRECT_URL="conversations:list")
def test_a_signed_in_user_is_sent_on_from_the_sign_in_page(owner_client: Client) -> None:
    assert owner_client.get(LOGIN)["Location"] == HISTORY


def test_signing_out_is_a_post_that_ends_the_session(owner_client: Client) -> None:
    refused = owner_client.get(LOGOUT)
    response = owner_client.post(LOGOUT)

    assert refused.status_code == 405
    assert (response.status_code, response["Location"]) == (302, LOGIN)
    assert signed_in_user(owner_client) is None
    assert owner_client.get(HISTORY).status_code == 302


def test_the_navigation_signs_out_by_post_and_shows_admin_to_staff_only(
    owner_client: Client, staff_client: Client
) -> None:
    owner_page = owner_client.get(HISTORY).content.decode()
    staff_page = staff_client.get(HISTORY).content.decode()

    assert f'<form class="sign-out" method="post" action="{LOGOUT}">' in owner_page
    assert 'aria-current="page">My conversations' in owner_page
    assert reverse("admin:index") not in owner_page
    assert reverse("admin:index") in staff_page


# --- ensure_admin --------------------------------------------------------------------------


def ensure_admin(url: str = "http://127.0.0.1:8000/") -> str:
    out = io.StringIO()
    call_command("ensure_admin", url=url, stdout=out)
    return out.getvalue()


def printed_password(output: str) -> str:
    return output.split("Password:")[1].split()[0]


def test_ensure_admin_creates_one_superuser_and_prints_how_to_sign_in() -> None:
    output = ensure_admin("http://voice.example:8000/")

    admin = get_user_model().objects.get()
    password = printed_password(output)
    assert (admin.username, admin.is_superuser, admin.is_staff) == ("admin", True, True)
    assert "http://voice.example:8000/accounts/login/" in output
    assert "Username: admin" in output
    assert len(password) >= 20
    assert admin.check_password(password)
    assert Client().login(username="admin", password=password)


def test_ensure_admin_again_creates_nothing_and_prints_no_password() -> None:
    first = ensure_admin()

    second = ensure_admin()

    assert get_user_model().objects.count() == 1
    assert printed_password(first) not in second
    assert "Password" not in second
    assert "changepassword" in second


def test_ensure_admin_leaves_existing_users_alone(owner: Any) -> None:
    output = ensure_admin()

    assert list(get_user_model().objects.values_list("username", flat=True)) == ["owner"]
    assert "http://127.0.0.1:8000/accounts/login/" in output
    assert "changepassword" in output


def test_ensure_admin_passwords_are_random() -> None:
    first = printed_password(ensure_admin())
    get_user_model().objects.all().delete()

    second = printed_password(ensure_admin())

    assert first != second
    assert get_user_model().objects.get().check_password(second)
