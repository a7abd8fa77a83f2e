"""`manage.py secret create|set|list|delete`: manage secrets from a shell.

Values given as arguments land in the shell's history; --value-stdin KEY reads a
value from standard input instead (`printf %s "$TOKEN" | manage.py secret set NAME
--value-stdin token`), and --from-env KEY=VAR from an environment variable.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.views.decorators.debug import sensitive_variables

from secrets_app import selectors, services


def _pair(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"Expected {what} as KEY=VALUE, got an argument without '=' or key.")
    return key, value


class Command(BaseCommand):
    help = "Create, change, list and delete secrets. Values are never printed."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,set,list,delete}")

        def value_options(sub: CommandParser) -> None:
            sub.add_argument(
                "--value", action="append", default=[], metavar="KEY=VALUE", help="Set a key (repeatable)."
            )
            sub.add_argument(
                "--from-env",
                action="append",
                default=[],
                metavar="KEY=ENVVAR",
                help="Set a key to an environment variable's value (repeatable).",
            )
            sub.add_argument(
                "--value-stdin",
                action="append",
                default=[],
                metavar="KEY",
                help="Read a key's value from standard input, keeping it out of shell history; "
                "with several keys, one line each, in order.",
            )
            sub.add_argument("--description", default=None)
            sub.add_argument("--user", default=None, help="Username recorded as the author.")

        create = actions.add_parser("create", help="Create a secret.")
        create.add_argument("name")
        value_options(create)

        change = actions.add_parser("set", help="Set or remove keys of a secret; other keys are kept.")
        change.add_argument("name")
        change.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
        change.add_argument("--remove", action="append", default=[], metavar="KEY", help="Remove a key (repeatable).")
        value_options(change)

        actions.add_parser("list", help="List secrets with their keys (never their values).")

        delete = actions.add_parser("delete", help="Delete a secret.")
        delete.add_argument("name")
        delete.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    @sensitive_variables()
    def _values(self, options: dict[str, Any]) -> dict[str, str]:
        values: dict[str, str] = {}
        for text in [*options.get("pairs", []), *options["value"]]:
            key, value = _pair(text, "--value")
            values[key] = value
        for text in options["from_env"]:
            key, variable = _pair(text, "--from-env")
            if variable not in os.environ:
                raise CommandError(f"--from-env {key}={variable}: the environment variable {variable} is not set.")
            values[key] = os.environ[variable]
        if options["value_stdin"]:
            keys = options["value_stdin"]
            text = (options.get("stdin") or sys.stdin).read()
            if len(keys) == 1:
                lines = [text[:-1] if text.endswith("\n") else text]
            else:
                lines = text.splitlines()
                if len(lines) < len(keys):
                    raise CommandError(f"--value-stdin {keys}: expected {len(keys)} lines on stdin, got {len(lines)}.")
            values.update(zip(keys, lines, strict=False))
        return values

    def _user(self, username: str | None) -> Any:
        if username is None:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

    def _secret(self, name: str) -> Any:
        secret = selectors.secret_by_name(name=name)
        if secret is None:
            raise CommandError(f"No secret named {name!r}; `manage.py secret list` shows them.")
        return secret

    @sensitive_variables()
    def _create(self, *, name: str, **options: Any) -> None:
        try:
            secret = services.secret_create(
                name=name,
                values=self._values(options),
                description=options["description"] or "",
                user=self._user(options["user"]),
            )
        except services.SecretInvalid as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created secret {secret.name} with keys: {', '.join(secret.keys) or '(none)'}")

    @sensitive_variables()
    def _set(self, *, name: str, remove: list[str], **options: Any) -> None:
        secret = self._secret(name)
        values = self._values(options)
        if not values and not remove and options["description"] is None:
            raise CommandError("Nothing to change: give KEY=VALUE pairs, --value-stdin, --from-env or --remove.")
        try:
            secret = services.secret_update(
                secret=secret,
                values=values or None,
                remove_keys=remove or None,
                description=options["description"],
                user=self._user(options["user"]),
            )
        except (services.SecretInvalid, services.SecretUndecryptable) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Updated secret {secret.name}; keys: {', '.join(secret.keys) or '(none)'}")

    def _list(self, **options: Any) -> None:
        for secret in selectors.secrets_list():
            self.stdout.write(f"{secret.name}\t{', '.join(secret.keys)}")

    def _delete(self, *, name: str, yes: bool, **options: Any) -> None:
        secret = self._secret(name)
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("Refusing to delete without confirmation: pass --yes.")
            if input(f"Delete secret {name!r}? Type its name to confirm: ") != name:
                raise CommandError("Not deleted.")
        services.secret_delete(secret=secret)
        self.stdout.write(f"Deleted secret {name}.")
