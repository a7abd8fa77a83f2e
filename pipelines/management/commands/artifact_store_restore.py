from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.services.backups import BackupError, artifact_store_backup_restore


class Command(BaseCommand):
    help = (
        "Copy a backup's artifact files into the configured artifact store (PIPELINES_ARTIFACT_STORE) and "
        "point the restored database's versions at it. deploy/restore.sh runs it after restoring the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, metavar="FOLDER", help="the backup's artifacts")

    def handle(self, *args: Any, source: str, **options: Any) -> None:
        try:
            done = artifact_store_backup_restore(folder=Path(source))
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        for copy, rewritten in done:
            self.stdout.write(f"{copy.root}: {copy.files} files restored, {rewritten} version uris now point here")
