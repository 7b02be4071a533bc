"""Signed-in users for a benchmark: `python -m bench.accounts N` prints N session keys as JSON.

It runs in a child process with the benchmark's environment (DATABASE_URL and the rest), so it
writes to the same database the Daphne under test reads, whichever that is. Sessions are created
directly in the session store, as a login would leave them: no password hashing, no HTTP.
"""

from __future__ import annotations

import json
import os
import sys


def create_sessions(count: int) -> list[str]:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    keys = []
    with transaction.atomic():
        for index in range(count):
            user, _ = User.objects.get_or_create(username=f"bench-user-{index}")
            store = SessionStore()
            store[SESSION_KEY] = str(user.pk)
            store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            store[HASH_SESSION_KEY] = user.get_session_auth_hash()
            store.create()
            keys.append(store.session_key)
    return keys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
    import django

    django.setup()
    print(json.dumps(create_sessions(int(sys.argv[1]))))


if __name__ == "__main__":
    main()
