from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.services.backups import BackupError, artifact_store_backup_write


class Command(BaseCommand):
    help = (
        "Copy every artifact store the installation uses (a local folder, s3://, gs://, az://) into a local "
        "folder, with a manifest of each store's root. deploy/backup.sh runs it after dumping the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, metavar="FOLDER", help="a new or empty folder")

    def handle(self, *args: Any, to: str, **options: Any) -> None:
        try:
            copies = artifact_store_backup_write(folder=Path(to))
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        for copy in copies:
            self.stdout.write(f"{copy.root}: {copy.files} files, {copy.bytes} bytes -> {Path(to) / copy.folder}")
