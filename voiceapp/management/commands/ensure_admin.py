"""`manage.py ensure_admin`: the first administrator, without any default password.

Run by `make run` before the server starts. On an empty user table it creates the superuser
`admin` with a random password and prints it once; it is never stored anywhere else. Once any
user exists it creates nothing and only says how to sign in or reset a password.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.urls import reverse

USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the first superuser with a random password when no user exists yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Where Voiceapp is served."
        )

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        sign_in = url.rstrip("/") + reverse("login")
        password = self._create_first_admin()
        if password is None:
            self.stdout.write(
                f"Sign in at {sign_in} with an existing account. Forgotten password: "
                "`python manage.py changepassword <username>`."
            )
            return
        self.stdout.write(self.style.SUCCESS("Created the first administrator (shown only once):"))
        self.stdout.write(f"  URL:      {sign_in}\n  Username: {USERNAME}\n  Password: {password}")
        self.stdout.write(f"Change it with `python manage.py changepassword {USERNAME}`.")

    @transaction.atomic
    def _create_first_admin(self) -> str | None:
        """The new password, or None when users already exist (then nothing is created)."""
        user_model = get_user_model()
        # Two first runs at once cannot make two admins: the unique username fails the second.
        if user_model._default_manager.exists():
            return None
        password = secrets.token_urlsafe(18)
        user_model._default_manager.create_superuser(
            **{user_model.USERNAME_FIELD: USERNAME}, email="", password=password
        )
        return password
