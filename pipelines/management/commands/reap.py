from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pipelines.services.reaper import reap_once


class Command(BaseCommand):
    help = (
        "Run one reaper pass: fail or retry steps whose worker stopped heartbeating, "
        "queue due retries, re-send lost messages (never sent, or sent but not claimed in time), "
        "remove files of abandoned attempts. "
        "Workers do this every PIPELINES_REAPER_INTERVAL seconds on their own."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = reap_once()
        self.stdout.write(
            f"crashed steps handled: {len(report.crashed)}, retries queued: {len(report.retried)}, "
            f"messages re-sent: {len(report.redispatched) + len(report.resent)}, "
            f"abandoned versions removed: {report.cleaned}"
        )
