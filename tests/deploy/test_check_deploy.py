"""`manage.py check --deploy` under the documented production environment (deploy/env.example)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

# The variables of deploy/env.example, with throwaway values; SQLite stands in for PostgreSQL
# because the checks only read settings and never connect.
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "test-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "ALLOWED_HOSTS": "voice.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://voice.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SECURE_PROXY_SSL_HEADER": "1",
    "OPENAI_API_KEY": "sk-test-not-a-real-key",
}
_CHECK_ID = re.compile(r"\(([\w.]+\.[EWC]\d+)\)")


@pytest.fixture(scope="module")
def collected_static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staticfiles")
    manage(env=production_env(STATIC_ROOT=str(root)), args=["collectstatic", "--noinput"])
    return root


def production_env(**overrides: str | None) -> dict[str, str]:
    """The production environment and nothing from the test run's own (DEBUG=1 in particular)."""
    env = {"PATH": "/usr/bin:/bin", **PRODUCTION_ENV, **overrides}
    return {name: value for name, value in env.items() if value is not None}


def manage(*, env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return manage(env=env, args=["check", "--deploy", "--fail-level", "WARNING"])


def test_check_deploy_is_clean_under_the_production_environment(
    collected_static_root: Path,
) -> None:
    result = check_deploy(production_env(STATIC_ROOT=str(collected_static_root)))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr == ""


def test_debug_off_with_the_default_secret_key_fails_with_e001(
    collected_static_root: Path,
) -> None:
    result = check_deploy(production_env(SECRET_KEY=None, STATIC_ROOT=str(collected_static_root)))

    assert result.returncode == 1
    # Django's own W009 also spots the "django-insecure-" prefix; E001 is the one that is an error.
    assert set(_CHECK_ID.findall(result.stderr)) == {"voiceapp.E001", "security.W009"}
    assert "ERRORS:" in result.stderr


@pytest.mark.parametrize(
    ("change", "expected_id"),
    [
        ({"REDIS_URL": None}, "voiceapp.W101"),
        ({"SECURE_PROXY_SSL_HEADER": "0"}, "voiceapp.W102"),
    ],
    ids=["in-memory channel layer", "ssl redirect without proxy header"],
)
def test_check_deploy_reports_a_production_mistake(
    collected_static_root: Path, change: dict[str, str | None], expected_id: str
) -> None:
    result = check_deploy(production_env(STATIC_ROOT=str(collected_static_root), **change))

    assert result.returncode == 1
    assert set(_CHECK_ID.findall(result.stderr)) == {expected_id}


def test_check_deploy_reports_static_files_not_collected(tmp_path: Path) -> None:
    result = check_deploy(production_env(STATIC_ROOT=str(tmp_path / "empty")))

    assert result.returncode == 1
    assert set(_CHECK_ID.findall(result.stderr)) == {"voiceapp.W103"}
