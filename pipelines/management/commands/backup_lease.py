from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.services.backups import BackupError, backup_lease_acquire, backup_lease_release


class Command(BaseCommand):
    help = (
        "Hold prune's file deletion while a backup runs (deploy/backup.sh does this): `acquire` prints the "
        "lease's id, `release ID` ends it. A lease that is not released expires after --hours."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["acquire", "release"])
        parser.add_argument("lease_id", nargs="?", type=int, help="the id `acquire` printed (release only)")
        parser.add_argument("--hours", type=float, default=12.0, help="how long the lease holds at most (12)")
        parser.add_argument("--holder", default="backup", help="who holds it, shown in the admin")

    def handle(self, *args: Any, action: str, lease_id: int | None, hours: float, holder: str, **options: Any) -> None:
        if action == "acquire":
            try:
                lease = backup_lease_acquire(holder=holder, hours=hours)
            except BackupError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(str(lease.id))
            return
        if lease_id is None:
            raise CommandError("Give the id `backup_lease acquire` printed: backup_lease release ID.")
        if not backup_lease_release(lease_id=lease_id):
            self.stderr.write(f"No backup lease {lease_id} (it expired or was released already).")
