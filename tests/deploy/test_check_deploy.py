"""`manage.py check --deploy` under the documented production environment (deploy/env.example)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ENV_EXAMPLE = Path(settings.BASE_DIR) / "deploy" / "env.example"
# Values for env.example's blanks. SQLite stands in for PostgreSQL: the checks read settings and
# never connect.
FILLED_IN = {
    "SECRET_KEY": "test-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "OPENAI_API_KEY": "sk-test-not-a-real-key",
    "DATABASE_URL": "sqlite:///:memory:",
}
_CHECK_ID = re.compile(r"\(([\w.]+\.[EWC]\d+)\)")


@pytest.fixture(scope="module")
def collected_static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staticfiles")
    manage(env=production_env(STATIC_ROOT=str(root)), args=["collectstatic", "--noinput"])
    return root


def documented_environment() -> dict[str, str]:
    """deploy/env.example as a dict, so the test and the documentation cannot drift apart."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def production_env(**overrides: str | None) -> dict[str, str]:
    """The documented environment and nothing from the test run's own (DEBUG=1 in particular)."""
    env = {"PATH": "/usr/bin:/bin", **documented_environment(), **FILLED_IN, **overrides}
    return {name: value for name, value in env.items() if value is not None}


def test_env_example_leaves_only_the_secrets_blank() -> None:
    blank = {name for name, value in documented_environment().items() if not value}

    assert blank == {"SECRET_KEY", "OPENAI_API_KEY"}


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
        ({"DB_CONN_MAX_AGE": "60"}, "voiceapp.W104"),
    ],
    ids=["in-memory channel layer", "ssl redirect without proxy header", "persistent connections"],
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
