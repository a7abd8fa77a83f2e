"""The figures `/metrics` exposes, read from our own tables at scrape time.

Workers are other processes, often on other machines, and may restart at any time:
a counter kept in a worker's memory would vanish with it and is not scraped anyway.
The database already records every run, step, attempt, artifact version and secret
read, so each figure here is an aggregate over those rows (one GROUP BY each): every
web process answers the same numbers, and they survive any restart. Deleting old
runs makes a figure drop, which Prometheus's `rate()` and `increase()` take as a
counter reset.

Labels are bounded: pipeline names (as many as there are pipelines), Celery queue
names, status and outcome choices. No run or step id is ever a label.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils import timezone

from pipelines.models import (
    ArtifactVersion,
    ArtifactVersionStatus,
    PipelineRun,
    StepAttempt,
    StepRun,
    StepStatus,
    WorkerHeartbeat,
)

# Upper bounds (seconds) of the histogram buckets; +Inf is implied.
STEP_DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
# Steps whose duration counts: those that ran their code to an end.
TIMED_STEP_STATUSES = (StepStatus.COMPLETED, StepStatus.FAILED)


@dataclass
class HistogramRows:
    """Per label value: cumulative counts per bucket bound (ascending), count and sum."""

    buckets: tuple[float, ...]
    rows: dict[str, tuple[list[int], int, float]] = field(default_factory=dict)


def runs_by_pipeline_and_status() -> dict[tuple[str, str], int]:
    rows = PipelineRun.objects.values_list("pipeline__name", "status").annotate(n=Count("id")).order_by()
    return {(pipeline, status): n for pipeline, status, n in rows}


def steps_by_pipeline_and_status() -> dict[tuple[str, str], int]:
    rows = StepRun.objects.values_list("pipeline_run__pipeline__name", "status").annotate(n=Count("id")).order_by()
    return {(pipeline, status): n for pipeline, status, n in rows}


def steps_queued_by_queue() -> dict[str, int]:
    rows = StepRun.objects.filter(status=StepStatus.QUEUED).values_list("queue").annotate(n=Count("id")).order_by()
    return dict(rows)


def attempts_by_outcome() -> dict[str, int]:
    return dict(StepAttempt.objects.values_list("outcome").annotate(n=Count("id")).order_by())


def step_retries() -> int:
    """Attempts after a step's first: each is a retry (after a failure or a crash)."""
    return StepAttempt.objects.filter(number__gt=1).count()


def artifact_bytes_written() -> int:
    return ArtifactVersion.objects.filter(status=ArtifactVersionStatus.READY).aggregate(n=Sum("size"))["n"] or 0


def workers_alive() -> tuple[int, dict[str, int]]:
    """Workers that heartbeated within WORKER_TIMEOUT: in all, and per queue they consume."""
    since = timezone.now() - timedelta(seconds=settings.PIPELINES["WORKER_TIMEOUT"])
    per_queue: Counter[str] = Counter()
    total = 0
    for queues in WorkerHeartbeat.objects.filter(last_seen_at__gte=since).values_list("queues", flat=True):
        total += 1
        per_queue.update(set(queues or []))
    return total, dict(per_queue)


def _histogram(queryset: QuerySet, *, label: str, start: str, end: str, buckets: tuple[float, ...]) -> HistogramRows:
    """Cumulative bucket counts of `end - start`, grouped by `label`, in one query."""
    elapsed = ExpressionWrapper(F(end) - F(start), output_field=DurationField())
    counts = {
        f"le_{index}": Count("id", filter=Q(elapsed__lte=timedelta(seconds=bound)))
        for index, bound in enumerate(buckets)
    }
    rows = (
        queryset.filter(**{f"{start}__isnull": False, f"{end}__isnull": False})
        .alias(elapsed=elapsed)
        .values(label)
        .annotate(count=Count("id"), total=Sum("elapsed"), **counts)
        .order_by()
    )
    result = HistogramRows(buckets=buckets)
    for row in rows:
        total = row["total"]
        seconds = total.total_seconds() if isinstance(total, timedelta) else float(total or 0) / 1e6
        result.rows[row[label]] = ([row[f"le_{index}"] for index in range(len(buckets))], row["count"], seconds)
    return result


def step_durations_by_pipeline() -> HistogramRows:
    """Seconds from a step's start to its end (its last attempt), for steps that ran."""
    return _histogram(
        StepRun.objects.filter(status__in=TIMED_STEP_STATUSES),
        label="pipeline_run__pipeline__name",
        start="started_at",
        end="finished_at",
        buckets=STEP_DURATION_BUCKETS,
    )


def queue_waits_by_queue() -> HistogramRows:
    """Seconds a step waited in its queue before a worker took it (its last attempt)."""
    return _histogram(
        StepRun.objects.all(), label="queue", start="queued_at", end="started_at", buckets=QUEUE_WAIT_BUCKETS
    )
