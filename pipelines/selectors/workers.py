"""Reads for the workers page: each Celery worker's heartbeat row and the steps on its host.

A step records where it ran as `host:pid` (the pool process, `StepRun.worker`); a
worker's heartbeat row names it `name@host`. Steps are matched to workers by host,
so two workers on one machine show the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Max
from django.utils import timezone

from pipelines import access
from pipelines.models import StepStatus, WorkerHeartbeat

# Recent steps are looked for among the newest step rows only, so the page costs the
# same on a history of millions of steps (`worker` has no index, the primary key does).
RECENT_STEP_WINDOW = 5000
RECENT_STEPS_PER_WORKER = 10
_STEP_FIELDS = (
    "id",
    "name",
    "status",
    "worker",
    "started_at",
    "finished_at",
    "pipeline_run_id",
    "pipeline_run__name",
)


@dataclass
class WorkerRow:
    hostname: str  # Celery's node name, `name@host`
    host: str
    queues: list[str]
    started_at: datetime
    last_seen_at: datetime
    alive: bool  # heartbeated within PIPELINES_WORKER_TIMEOUT
    concurrency: int | None = None  # its pool size; None from a worker that did not say
    running: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)


def host_of(name: str) -> str:
    """The machine of a worker node name (`name@host`) or a step's worker (`host:pid`)."""
    if "@" in name:
        return name.split("@", 1)[1]
    return name.rsplit(":", 1)[0]


def workers_for_page(user: access.User, *, now: datetime | None = None) -> list[WorkerRow]:
    """Every worker with a heartbeat row, live ones first, with the steps running on
    its host now and the latest finished there. Three queries, whatever the history."""
    now = now or timezone.now()
    cutoff = WorkerHeartbeat.live_since(now)
    workers = [
        WorkerRow(
            hostname=row.hostname,
            host=host_of(row.hostname),
            queues=list(row.queues or []),
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            alive=row.last_seen_at >= cutoff,
            concurrency=row.concurrency,
        )
        for row in access.workers_visible(user).order_by("hostname")
    ]
    if not workers:
        return []
    by_host: dict[str, list[WorkerRow]] = {}
    for worker in workers:
        by_host.setdefault(worker.host, []).append(worker)

    steps = access.steps_visible(user)
    # Running steps may have started long ago: found by the status index, not the window.
    for row in (
        steps.filter(status=StepStatus.RUNNING).exclude(worker="").order_by("started_at", "id").values(*_STEP_FIELDS)
    ):
        row["running_for"] = now - row["started_at"] if row["started_at"] else None
        for worker in by_host.get(host_of(row["worker"]), []):
            worker.running.append(row)
    newest = steps.aggregate(newest=Max("id"))["newest"] or 0
    recent = (
        steps.filter(id__gt=newest - RECENT_STEP_WINDOW)
        .exclude(worker="")
        .exclude(status__in=(StepStatus.RUNNING, StepStatus.QUEUED, StepStatus.PENDING))
        .order_by("-id")
        .values(*_STEP_FIELDS)
    )
    for row in recent:
        for worker in by_host.get(host_of(row["worker"]), []):
            if len(worker.recent) < RECENT_STEPS_PER_WORKER:
                worker.recent.append(row)
    workers.sort(key=lambda worker: not worker.alive)
    return workers
