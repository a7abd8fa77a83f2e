"""Worker liveness, so a client can tell "queued" from "nobody will ever run this"."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from pipelines.models import WorkerHeartbeat


def worker_heartbeat(*, hostname: str, queues: list[str], started_at: datetime, concurrency: int | None = None) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": queues,
            "started_at": started_at,
            "last_seen_at": timezone.now(),
            "concurrency": concurrency if concurrency and concurrency > 0 else None,
        },
    )


def worker_gone(*, hostname: str) -> None:
    WorkerHeartbeat.objects.filter(hostname=hostname).delete()
