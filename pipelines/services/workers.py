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


def workers_live_pool_size(*, queue: str) -> int:
    """How many steps the live workers consuming `queue` can run at once: the sum of
    their pool sizes (a worker that did not record one counts as one)."""
    live = WorkerHeartbeat.objects.live().values_list("queues", "concurrency")
    return sum(concurrency or 1 for queues, concurrency in live if queue in queues)
