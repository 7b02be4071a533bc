"""Voiceapp settings: the one place that reads the environment.

Every variable is listed, with its default, in README.md ("Configuration"). Unsafe combinations
are reported by the system checks in ``voiceapp/checks.py`` rather than silently accepted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dj_database_url

from voiceapp.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# A development-only key: the check voiceapp.E001 refuses it whenever DEBUG is off.
DEFAULT_SECRET_KEY = "django-insecure-voiceapp-development-only"
SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # daphne first: its runserver replaces Django's, so `runserver` serves ASGI and WebSockets.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "voiceapp",
    "conversations",
    "signaling",
    "localrealtime",
    "sideband",
    "live",
    "limits",
]

MIDDLEWARE = [
    # First, so every log line of the request, redirects and errors included, has its id.
    "voiceapp.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Everything needs a signed-in user unless a view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "voiceapp.urls"
ASGI_APPLICATION = "voiceapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "voiceapp.context_processors.realtime",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        # Persistent connections: database_sync_to_async would otherwise open one per call.
        # Production sets 0 (deploy/env.example): under Daphne every HTTP request runs in a new
        # thread, so kept connections pile up until garbage collection (check voiceapp.W104).
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets pages read while a call's transcript is written, and the sideband watcher (its own
    # process) write beside Daphne; IMMEDIATE takes the write lock at BEGIN, so a writer waits
    # for it (up to the timeout) instead of failing mid-transaction with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        transaction_mode="IMMEDIATE",
        timeout=20,
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    # A dead or unroutable server fails in seconds, so /readyz and requests do not hang on it.
    _db_options.setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5, minimum=1))
    if env_bool("DB_POOL", True):
        # psycopg's pool instead of per-thread persistent connections: under ASGI every request
        # and every database_sync_to_async call may run on another thread (Django's advice).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        _db_options["pool"] = {
            "min_size": env_int("DB_POOL_MIN_SIZE", 2, minimum=0),
            "max_size": env_int("DB_POOL_MAX_SIZE", 20, minimum=1),
            "timeout": env_int("DB_POOL_TIMEOUT", 10, minimum=1),
        }
# Relayed transcript batches are written in groups, one transaction each (signaling/writer.py).
# With PostgreSQL's pool several groups may be written at once: that hides a distant database's
# round trips, but splits what arrives into smaller groups, each with its own lock, statements and
# commit. With the database on the same machine one at a time stored the most (BENCHMARKS.md,
# session 7: flat out 2,904 events/s with one, 2,170 with four; the same ack p99 when paced).
SIGNALING_PARALLEL_WRITES = env_int("SIGNALING_PARALLEL_WRITES", 1, minimum=1, maximum=8)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s timeout by default, the same 5 s channels_redis
                # blocks waiting for a message: every idle socket then failed with "Timeout
                # reading" and Daphne closed it (1011). A longer read timeout lets the wait end.
                # redis-py 8's pool refuses a command past max_connections (default 100)
                # rather than waiting: at 200 calls in flight group_add/group_send failed with
                # "Too many connections" and call.start closed the socket 4503 (bench.broker).
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 1000}],
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth -----------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "talk"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation, static files -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic writes; nginx may serve it directly (deploy/nginx/voiceapp.conf).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Tests and `make run` serve static files straight from the finders, without collectstatic.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)

# --- Security behind a proxy ----------------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Opt-in: trusting X-Forwarded-Proto is only safe behind a proxy that overwrites it.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Load balancers and container health checks call Daphne directly over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Django's defaults, stated so a reviewer sees them and nobody weakens them by accident.
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Not HttpOnly: page scripts may read the CSRF token for fetch() posts, and Django's docs note
# that HttpOnly on this cookie brings no real protection.
CSRF_COOKIE_HTTPONLY = False

# --- The Realtime upstream ------------------------------------------------------------------
# With OPENAI_API_KEY unset, Voiceapp talks to its own embedded local engine (localrealtime/).
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
LOCAL_REALTIME_ENABLED = env_bool("LOCAL_REALTIME_ENABLED", not OPENAI_API_KEY)
# The key the local engine accepts as its "server key": derived, so every process agrees on it.
LOCAL_REALTIME_API_KEY = env_str(
    "LOCAL_REALTIME_API_KEY",
    "sk-local-" + hashlib.sha256(f"local-realtime:{SECRET_KEY}".encode()).hexdigest()[:40],
)
# "openai" sends `Authorization: Bearer`; "azure" sends `api-key` and mints a key for the SDP post.
OPENAI_API_TYPE = env_str("OPENAI_API_TYPE", "openai")
OPENAI_BASE_URL = env_str(
    "OPENAI_BASE_URL",
    "https://api.openai.com/v1" if OPENAI_API_KEY else "http://127.0.0.1:8000/local-realtime/v1",
).rstrip("/")
REALTIME_API_KEY = OPENAI_API_KEY or LOCAL_REALTIME_API_KEY
USING_LOCAL_ENGINE = not OPENAI_API_KEY

REALTIME_MODEL = env_str("REALTIME_MODEL", "gpt-realtime-2.1")
REALTIME_VOICE = env_str("REALTIME_VOICE", "marin")
REALTIME_VOICES = env_list(
    "REALTIME_VOICES",
    ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"],
)
REALTIME_TRANSCRIPTION_MODEL = env_str("REALTIME_TRANSCRIPTION_MODEL", "gpt-4o-mini-transcribe")
REALTIME_TURN_DETECTION = env_str("REALTIME_TURN_DETECTION", "server_vad")
REALTIME_INSTRUCTIONS = env_str(
    "REALTIME_INSTRUCTIONS",
    "You are Voiceapp's assistant. Answer briefly and clearly, in the user's language.",
)
# Direct mode hands the browser an ephemeral key; brokered mode (the default) never does.
REALTIME_DIRECT_MODE_ENABLED = env_bool("REALTIME_DIRECT_MODE_ENABLED", True)
REALTIME_EPHEMERAL_KEY_TTL = env_int("REALTIME_EPHEMERAL_KEY_TTL", 60, minimum=10, maximum=7200)
REALTIME_HTTP_TIMEOUT = env_int("REALTIME_HTTP_TIMEOUT", 20, minimum=1, maximum=300)

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "voiceapp.logging.JsonFormatter"}},
    # On the handler, not a logger: records from every logger get the request/conversation ids.
    "filters": {"log_context": {"()": "voiceapp.logging.LogContextFilter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["log_context"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    # Django's default config gives "django" a plain-text console handler in DEBUG; no handlers
    # of its own leaves it to propagate to the JSON root handler, so every line stays JSON.
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # httpx logs every upstream request at INFO, a second line beside the one our own code
        # writes with the ids that matter (signaling/calls.py), and a JSON record's CPU on every
        # offer and key: kept for LOG_LEVEL=DEBUG.
        "httpx": {"level": "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"},
    },
}

# --- Local realtime engine ------------------------------------------------------------------
# Sessions (WebRTC calls and WebSocket sessions) carried at once; beyond it new ones get 503.
LOCAL_REALTIME_MAX_SESSIONS = env_int("LOCAL_REALTIME_MAX_SESSIONS", 8, minimum=1, maximum=256)
# PocketSphinx worker processes, each with a decoder built at start-up, and the utterances that
# may wait for one before a transcription fails as busy.
LOCAL_REALTIME_DECODER_PROCESSES = env_int(
    "LOCAL_REALTIME_DECODER_PROCESSES", 2, minimum=1, maximum=32
)
LOCAL_REALTIME_DECODER_QUEUE = env_int("LOCAL_REALTIME_DECODER_QUEUE", 16, minimum=0, maximum=1000)
# Like OpenAI, a session ends after 60 minutes.
LOCAL_REALTIME_MAX_SESSION_SECONDS = env_int(
    "LOCAL_REALTIME_MAX_SESSION_SECONDS", 3600, minimum=1, maximum=86400
)

# --- Sideband watcher
# `manage.py watch_calls` attaches to every brokered call and keeps the authoritative record.
SIDEBAND_WATCHER_ENABLED = env_bool("SIDEBAND_WATCHER_ENABLED", True)
# A watcher that misses heartbeats for this long loses its calls to another watcher.
SIDEBAND_LEASE_SECONDS = env_int("SIDEBAND_LEASE_SECONDS", 30, minimum=2, maximum=3600)
# How often a watcher renews its leases, claims new calls and checks its timers.
SIDEBAND_POLL_SECONDS = env_int("SIDEBAND_POLL_SECONDS", 1, minimum=1, maximum=60)
# Hang up when the user's signaling socket is gone and the call has been silent this long.
SIDEBAND_IDLE_TIMEOUT_SECONDS = env_int("SIDEBAND_IDLE_TIMEOUT_SECONDS", 300, minimum=10)
# Hang up any call this old (OpenAI ends sessions at 60 minutes anyway).
SIDEBAND_MAX_CALL_SECONDS = env_int("SIDEBAND_MAX_CALL_SECONDS", 3600, minimum=60)

# --- Live monitoring
# `manage.py sweep_calls` ends a voice call no signaling socket has held for this long (its Daphne
# process was killed). Longer than the 30 s a dropped socket has to resume its call.
LIVE_STALE_CALL_SECONDS = env_int("LIVE_STALE_CALL_SECONDS", 120, minimum=31)
LIVE_SWEEP_SECONDS = env_int("LIVE_SWEEP_SECONDS", 30, minimum=1, maximum=3600)

# --- Limits and budgets
# Global defaults; staff override them per user or group in the admin (limits.LimitPolicy).
# A budget of 0 means no budget. Minutes count call time; costs are computed from the kept raw
# usage with REALTIME_PRICES, so changing a price recomputes every figure.
LIMITS_MAX_CALL_SECONDS = env_int("LIMITS_MAX_CALL_SECONDS", 3600, minimum=1)
LIMITS_IDLE_TIMEOUT_SECONDS = env_int("LIMITS_IDLE_TIMEOUT_SECONDS", 300, minimum=1)
LIMITS_MAX_CONCURRENT_CALLS = env_int("LIMITS_MAX_CONCURRENT_CALLS", 2, minimum=1)
LIMITS_DAILY_MINUTES = env_int("LIMITS_DAILY_MINUTES", 0, minimum=0)
LIMITS_MONTHLY_MINUTES = env_int("LIMITS_MONTHLY_MINUTES", 0, minimum=0)
LIMITS_DAILY_COST_CENTS = env_int("LIMITS_DAILY_COST_CENTS", 0, minimum=0)
LIMITS_MONTHLY_COST_CENTS = env_int("LIMITS_MONTHLY_COST_CENTS", 0, minimum=0)
# The user is warned (`call.warning`) this long before a limit ends the call.
LIMITS_WARNING_SECONDS = env_int("LIMITS_WARNING_SECONDS", 60, minimum=0)
# How often a call's limits are checked while it runs.
LIMITS_CHECK_SECONDS = env_int("LIMITS_CHECK_SECONDS", 5, minimum=1, maximum=60)
# The upstream ends every session at 60 minutes; we end it first, with that reason.
REALTIME_MAX_SESSION_SECONDS = env_int("REALTIME_MAX_SESSION_SECONDS", 3600, minimum=60)
# USD per million tokens, per model (docs/realtime-protocol §7). Cached tokens are part of the
# input tokens and billed at `cached_in`. A JSON object in REALTIME_PRICES replaces the table.
REALTIME_PRICES = json.loads(env_str("REALTIME_PRICES") or "null") or {
    "gpt-realtime-2": {
        "text_in": 4,
        "text_out": 24,
        "audio_in": 32,
        "audio_out": 64,
        "cached_in": 0.4,
    },
    "gpt-realtime-2.1": {
        "text_in": 4,
        "text_out": 24,
        "audio_in": 32,
        "audio_out": 64,
        "cached_in": 0.4,
    },
    "gpt-realtime-2.1-mini": {"text_in": 0.6, "text_out": 2.4, "audio_in": 10, "audio_out": 20},
    "gpt-realtime-1.5": {"text_in": 4, "text_out": 16, "audio_in": 32, "audio_out": 64},
}
