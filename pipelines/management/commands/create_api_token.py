from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.services.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it. It is stored hashed and shown only this once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to tell the token apart later.")
        parser.add_argument(
            "--expires-in-days", type=int, default=None, help="Make the token stop working after this many days."
        )

    def handle(self, *args: Any, username: str, name: str, expires_in_days: int | None, **options: Any) -> None:
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(
                f"No user named {username!r}. Create one with `python manage.py createsuperuser`."
            ) from None
        expires_in = timedelta(days=expires_in_days) if expires_in_days else None
        _, key = api_token_create(user=user, name=name, expires_in=expires_in)
        self.stdout.write(key)
