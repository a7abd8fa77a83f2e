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
from itertools import accumulate

from django.conf import settings
from django.db.models import Case, Count, F, FloatField, Func, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from pipelines.models import (
    ArtifactVersion,
    ArtifactVersionStatus,
    EventCounter,
    PipelineRun,
    ReaperAction,
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


def steps_queued_by_queue() -> dict[str, int]:
    rows = StepRun.objects.filter(status=StepStatus.QUEUED).values_list("queue").annotate(n=Count("id")).order_by()
    return dict(rows)


def attempts_by_outcome_and_retries() -> tuple[dict[str, int], int]:
    """Attempts by outcome, and the attempts after a step's first (each is a retry,
    after a failure or a crash), from one GROUP BY."""
    rows = (
        StepAttempt.objects.values_list("outcome")
        .annotate(n=Count("id"), retries=Count("id", filter=Q(number__gt=1)))
        .order_by()
    )
    by_outcome = {outcome: n for outcome, n, _retries in rows}
    return by_outcome, sum(retries for _outcome, _n, retries in rows)


def reaper_actions() -> dict[str, int]:
    """How many times the reaper did each of its actions that leave no row (re-sent a
    message, released a retry, removed an abandoned version's files...), 0 for those
    it never did. Kept in counter rows (pipelines.services.counters)."""
    names = {action.counter: action.value for action in ReaperAction}
    counts = dict.fromkeys(names.values(), 0)
    for name, value in EventCounter.objects.filter(name__in=names).values_list("name", "value"):
        counts[names[name]] = value
    return counts


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


class Seconds(Func):
    """Seconds from `start` to `end` (two datetime columns), computed by the database
    itself: Django's own datetime subtraction on SQLite calls back into Python for
    every row, a hundred times slower over a large steps table."""

    output_field = FloatField()

    def __init__(self, end: str, start: str) -> None:
        super().__init__(F(end), F(start))

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[no-untyped-def, override]
        return super().as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision", arg_joiner=" - "
        )

    def as_sqlite(self, compiler, connection, **extra_context):  # type: ignore[no-untyped-def]
        return super().as_sql(
            compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)", arg_joiner=") - julianday("
        )


def _bucketed(
    queryset: QuerySet, *, labels: list[str], start: str, end: str, buckets: tuple[float, ...], timed: Q
) -> list[tuple]:
    """(*labels, bucket, count, total seconds) rows, one scan: each row of `queryset`
    falls in the first bucket whose bound its `end - start` is under (len(buckets)
    past the last), or in bucket -1 when it is not `timed` or lacks a timestamp."""
    untimed = ~timed | Q(**{f"{start}__isnull": True}) | Q(**{f"{end}__isnull": True})
    bucket = Case(
        When(untimed, then=Value(-1)),
        *(When(elapsed__lte=bound, then=Value(index)) for index, bound in enumerate(buckets)),
        default=Value(len(buckets)),
    )
    return list(
        queryset.alias(elapsed=Seconds(end, start))
        .annotate(bucket=bucket)
        .values_list(*labels, "bucket")
        .annotate(n=Count("id"), total=Sum("elapsed"))
        .order_by()
    )


def _histogram(rows: list[tuple], buckets: tuple[float, ...]) -> HistogramRows:
    """Cumulative buckets per label value from `(label, bucket, count, total)` rows."""
    per_label: dict[str, tuple[list[int], list[float]]] = {}
    for value, index, n, total in rows:
        if index < 0:
            continue
        counts, totals = per_label.setdefault(value, ([0] * (len(buckets) + 1), [0.0]))
        counts[index] += n
        totals[0] += float(total or 0.0)
    result = HistogramRows(buckets=buckets)
    for value, (counts, totals) in per_label.items():
        result.rows[value] = (list(accumulate(counts[:-1])), sum(counts), max(totals[0], 0.0))
    return result


@dataclass
class StepFigures:
    by_pipeline_and_status: dict[tuple[str, str], int]
    durations_by_pipeline: HistogramRows


def steps_by_pipeline() -> StepFigures:
    """Steps by pipeline and status, and the durations (start to end of the last
    attempt) of those that ran, from one scan of the steps table."""
    rows = _bucketed(
        StepRun.objects.all(),
        labels=["pipeline_run__pipeline__name", "status"],
        start="started_at",
        end="finished_at",
        buckets=STEP_DURATION_BUCKETS,
        timed=Q(status__in=TIMED_STEP_STATUSES),
    )
    counts: Counter[tuple[str, str]] = Counter()
    for pipeline, status, _bucket, n, _total in rows:
        counts[(pipeline, status)] += n
    durations = _histogram(
        [(pipeline, bucket, n, total) for pipeline, _status, bucket, n, total in rows], STEP_DURATION_BUCKETS
    )
    return StepFigures(by_pipeline_and_status=dict(counts), durations_by_pipeline=durations)


def queue_waits_by_queue() -> HistogramRows:
    """Seconds a step waited in its queue before a worker took it (its last attempt)."""
    rows = _bucketed(
        StepRun.objects.filter(started_at__isnull=False),
        labels=["queue"],
        start="queued_at",
        end="started_at",
        buckets=QUEUE_WAIT_BUCKETS,
        timed=Q(queued_at__isnull=False),
    )
    return _histogram(rows, QUEUE_WAIT_BUCKETS)
