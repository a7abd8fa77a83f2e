from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.services.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it. It is stored hashed and shown only this once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to tell the token apart later.")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(
                f"No user named {username!r}. Create one with `python manage.py createsuperuser`."
            ) from None
        _, key = api_token_create(user=user, name=name)
        self.stdout.write(key)
