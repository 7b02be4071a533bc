"""System checks for settings that would be unsafe or broken, with ids and hints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEFAULT_SECRET_KEY:
        return [
            Error(
                "DEBUG is off but SECRET_KEY is the development default.",
                hint="Set SECRET_KEY to a long random value, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
                id="voiceapp.E001",
            )
        ]
    return []


@register()
def check_realtime_upstream(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if settings.OPENAI_API_TYPE not in {"openai", "azure"}:
        problems.append(
            Error(
                f"OPENAI_API_TYPE={settings.OPENAI_API_TYPE!r} is not supported.",
                hint="Use 'openai' (OpenAI or the local engine) or 'azure'.",
                id="voiceapp.E002",
            )
        )
    if not settings.OPENAI_BASE_URL.startswith(("http://", "https://")):
        problems.append(
            Error(
                f"OPENAI_BASE_URL={settings.OPENAI_BASE_URL!r} is not an http(s) URL.",
                hint="For OpenAI: https://api.openai.com/v1; for Azure: "
                "https://<resource>.openai.azure.com/openai/v1.",
                id="voiceapp.E003",
            )
        )
    if settings.REALTIME_VOICE not in settings.REALTIME_VOICES:
        problems.append(
            Error(
                f"REALTIME_VOICE={settings.REALTIME_VOICE!r} is not in REALTIME_VOICES.",
                hint="Add it to REALTIME_VOICES or pick one of them.",
                id="voiceapp.E004",
            )
        )
    if settings.USING_LOCAL_ENGINE and not settings.LOCAL_REALTIME_ENABLED:
        problems.append(
            Error(
                "OPENAI_API_KEY is unset and the local engine is disabled: calls have no upstream.",
                hint="Set OPENAI_API_KEY, or LOCAL_REALTIME_ENABLED=1.",
                id="voiceapp.E005",
            )
        )
    if settings.OPENAI_API_KEY and settings.OPENAI_BASE_URL.startswith("http://"):
        problems.append(
            Warning(
                "OPENAI_API_KEY would be sent over plain http.",
                hint="Use an https OPENAI_BASE_URL.",
                id="voiceapp.W001",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Production mistakes that Django's own deploy checks cannot know about."""
    return [
        *_check_channel_layer(),
        *_check_ssl_redirect_behind_proxy(),
        *_check_static_files_collected(),
        *_check_persistent_connections(),
    ]


def _check_channel_layer() -> list[Warning]:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if backend != "channels.layers.InMemoryChannelLayer":
        return []
    return [
        Warning(
            "The channel layer is in-memory: Daphne processes cannot reach each other.",
            hint="Set REDIS_URL; with more than one web process, events are otherwise lost.",
            id="voiceapp.W101",
        )
    ]


def _check_ssl_redirect_behind_proxy() -> list[Warning]:
    if not settings.SECURE_SSL_REDIRECT or getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return []
    return [
        Warning(
            "SECURE_SSL_REDIRECT is on but SECURE_PROXY_SSL_HEADER is not.",
            hint="Behind a TLS-terminating proxy every request looks like plain HTTP and "
            "redirects forever: set SECURE_PROXY_SSL_HEADER=1 (the proxy must overwrite "
            "X-Forwarded-Proto).",
            id="voiceapp.W102",
        )
    ]


def _check_persistent_connections() -> list[Warning]:
    if not settings.DATABASES["default"].get("CONN_MAX_AGE"):
        return []
    return [
        Warning(
            "Database connections are kept between requests (DB_CONN_MAX_AGE > 0).",
            hint="Under ASGI each request runs in a thread of its own, so kept connections "
            "pile up until garbage collection; Django advises DB_CONN_MAX_AGE=0.",
            id="voiceapp.W104",
        )
    ]


def _check_static_files_collected() -> list[Warning]:
    storage = settings.STORAGES["staticfiles"]["BACKEND"]
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if "Manifest" not in storage or manifest.exists():
        return []
    return [
        Warning(
            f"Static files have not been collected into {settings.STATIC_ROOT}.",
            hint="Run `manage.py collectstatic --noinput`: without its manifest every page "
            "that links a static file fails with a server error.",
            id="voiceapp.W103",
        )
    ]
