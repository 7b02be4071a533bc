"""System checks in voiceapp/checks.py: each fires on its misconfiguration and only then."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import registry
from django.test import override_settings

from voiceapp.checks import check_realtime_upstream, check_secret_key

# A consistent, valid configuration; each case below changes what its check is about.
VALID = {
    "DEBUG": False,
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789",
    "OPENAI_API_TYPE": "openai",
    "OPENAI_BASE_URL": "https://api.openai.com/v1",
    "OPENAI_API_KEY": "sk-test",
    "USING_LOCAL_ENGINE": False,
    "LOCAL_REALTIME_ENABLED": False,
    "REALTIME_VOICE": "marin",
    "REALTIME_VOICES": ["marin", "cedar"],
}
LOCAL_ENGINE = {
    "OPENAI_API_KEY": "",
    "USING_LOCAL_ENGINE": True,
    "LOCAL_REALTIME_ENABLED": True,
    "OPENAI_BASE_URL": "http://127.0.0.1:8000/local-realtime/v1",
}


def ids(check: Callable[..., list[Any]], **changes: Any) -> list[str]:
    with override_settings(**(VALID | changes)):
        return [message.id for message in check()]


def test_a_valid_configuration_raises_nothing() -> None:
    assert ids(check_secret_key) == []
    assert ids(check_realtime_upstream) == []


def test_the_local_engine_over_plain_http_is_valid() -> None:
    assert ids(check_realtime_upstream, **LOCAL_ENGINE) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"SECRET_KEY": "django-insecure-voiceapp-development-only"}, ["voiceapp.E001"]),
        ({"SECRET_KEY": "django-insecure-voiceapp-development-only", "DEBUG": True}, []),
        ({"DEBUG": True}, []),
    ],
)
def test_e001_refuses_the_development_secret_key_without_debug(
    changes: dict, expected: list[str]
) -> None:
    assert ids(check_secret_key, **changes) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"OPENAI_API_TYPE": "google"}, ["voiceapp.E002"]),
        ({"OPENAI_API_TYPE": "azure"}, []),
        ({"OPENAI_BASE_URL": "api.openai.com/v1"}, ["voiceapp.E003"]),
        ({"OPENAI_BASE_URL": "wss://api.openai.com/v1"}, ["voiceapp.E003"]),
        ({"REALTIME_VOICE": "robot"}, ["voiceapp.E004"]),
        ({"REALTIME_VOICE": "cedar"}, []),
        ({**LOCAL_ENGINE, "LOCAL_REALTIME_ENABLED": False}, ["voiceapp.E005"]),
        ({"OPENAI_BASE_URL": "http://api.openai.com/v1"}, ["voiceapp.W001"]),
        (
            {"OPENAI_API_TYPE": "google", "REALTIME_VOICE": "robot"},
            ["voiceapp.E002", "voiceapp.E004"],
        ),
    ],
)
def test_realtime_upstream_checks(changes: dict, expected: list[str]) -> None:
    assert ids(check_realtime_upstream, **changes) == expected


def test_every_problem_comes_with_a_hint() -> None:
    broken = {"OPENAI_API_TYPE": "google", "OPENAI_BASE_URL": "ftp://x", "REALTIME_VOICE": "robot"}
    with override_settings(**(VALID | broken | {"SECRET_KEY": settings.DEFAULT_SECRET_KEY})):
        messages = [*check_secret_key(), *check_realtime_upstream()]

    assert [m.id for m in messages] == [
        "voiceapp.E001",
        "voiceapp.E002",
        "voiceapp.E003",
        "voiceapp.E004",
    ]
    assert all(m.hint for m in messages)


def test_the_checks_are_registered_with_django() -> None:
    registered = registry.registry.get_checks(include_deployment_checks=False)

    assert check_secret_key in registered
    assert check_realtime_upstream in registered
