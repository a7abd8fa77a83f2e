from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.services.backups import restore_check


class Command(BaseCommand):
    help = (
        "Check a restored installation: every ready artifact version's files match their checksum (--load: "
        "and load through their materializer), every secret decrypts with FERNET_KEYS. Prints no value; "
        "exits non-zero naming each problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--load", action="store_true", help="also load every version (imports materializers)")

    def handle(self, *args: Any, load: bool, **options: Any) -> None:
        check = restore_check(load=load)
        self.stdout.write(
            f"{check.runs} runs; {check.versions} artifact versions verified ({check.bytes} bytes); "
            f"{check.secrets} secrets decrypt"
        )
        if check.problems:
            for problem in check.problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(check.problems)} problems: see above.")
