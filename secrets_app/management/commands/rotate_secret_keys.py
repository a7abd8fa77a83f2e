from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from secrets_app.services import RotationReport, secrets_rotate_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret with the newest of FERNET_KEYS (the first). Put the new key first, "
        "keep the old ones after it, run this, then remove the old keys. Safe to interrupt and run "
        "again: secrets already under the newest key are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be rotated; change nothing.")
        parser.add_argument("--batch-size", type=int, default=200, help="Secrets per transaction (default 200).")

    def handle(self, *args: Any, dry_run: bool, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")

        def progress(report: RotationReport) -> None:
            if options["verbosity"] >= 2:
                self.stdout.write(f"… {report.rotated} rotated, {report.current} already current")

        report = secrets_rotate_keys(batch_size=batch_size, dry_run=dry_run, after_batch=progress)
        verb = "would be rotated" if dry_run else "rotated"
        self.stdout.write(f"{report.rotated} {verb}, {report.current} already current, {len(report.failed)} failed.")
        if report.failed:
            raise CommandError(
                f"No key in FERNET_KEYS decrypts these secrets: {', '.join(report.failed)}. "
                "Add the key that encrypted them to FERNET_KEYS and run this again."
            )
