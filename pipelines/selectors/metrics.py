"""The figures `/metrics` exposes, read from our own tables at scrape time.

Workers are other processes, often on other machines, and may restart at any time:
a counter kept in a worker's memory would vanish with it and is not scraped anyway.
The database already records every run, step, attempt, artifact version and secret
read, so each figure here comes from those rows: every web process answers the same
numbers, and they survive any restart.

What a scrape costs. Counting every step at every scrape read the whole steps table
(1.5 s at 200,000 steps on PostgreSQL, growing with the history). Steps and attempts
that ended are never changed again (a finished status is final), so their figures are
kept as running totals instead (`StepRunTotal`, `StepAttemptTotal`), folded in by
`pipelines.services.metrics` from a mark on `finished_at` (`MetricsFold.folded_until`)
that trails the clock by a few minutes. A figure is then the totals plus the rows that
ended since the mark, plus the steps still going; each is one statement, read through
the `finished_at` indexes, so its cost follows the last few minutes of work and the
number of label values, not the size of the history (65 ms a scrape at 200,000 steps).
The totals and the rows past the mark are read in one statement, one snapshot, and
each total row carries the mark that snapshot saw: when a fold committed after the
scrape read the mark, the statement is read again past the new one, so a fold running
meanwhile can neither hide a step nor count it twice. The mark is given as a literal
(not a subquery) so that the planner sees how few rows are past it.

The trade-off: a step whose transaction set its `finished_at` but committed more than
`FOLD_GRACE` later than that (minutes; steps end in short transactions) would be
behind the mark when it appears and never counted; and a scrape writes (at most one
fold a minute for the whole installation). Caching a scrape per process was the other
option: it does not make the scrape that misses the cache any cheaper, figures would
lag by the cache's age, and with several web servers each would still read the whole
table every few seconds.

Prune (`pipelines.services.retention`) folds the steps and attempts of the runs it
deletes into the totals first, in the same transaction: the step and attempt counters
are monotonic and count deleted steps too. The gauges (`pipelines_runs`, queued steps,
workers) and `pipelines_runs_finished`, `pipelines_secret_reads` and
`pipelines_artifact_bytes_written` count the rows there are, so they drop when prune
deletes rows, which Prometheus's `rate()` and `increase()` take as a counter reset.

Labels are bounded: pipeline names (as many as there are pipelines), Celery queue
names, status and outcome choices. No run or step id is ever a label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate

from django.db import DatabaseError
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from pipelines.models import (
    FINISHED_STEP_STATUSES,
    ArtifactVersion,
    ArtifactVersionStatus,
    EventCounter,
    MetricsFold,
    PipelineRun,
    ReaperAction,
    StepAttempt,
    StepAttemptTotal,
    StepRun,
    StepRunTotal,
    StepStatus,
    WorkerHeartbeat,
)

# Upper bounds (seconds) of the histogram buckets; +Inf is implied.
STEP_DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
# Steps whose duration counts: those that ran their code to an end.
TIMED_STEP_STATUSES = (StepStatus.COMPLETED, StepStatus.FAILED)
UNFINISHED_STEP_STATUSES = tuple(status for status in StepStatus if status not in FINISHED_STEP_STATUSES)
# The mark before any fold: nothing is in the totals yet.
NOTHING_FOLDED = datetime(1970, 1, 1, tzinfo=UTC)
UNTIMED = -1


@dataclass
class HistogramRows:
    """Per label value: cumulative counts per bucket bound (ascending), count and sum."""

    buckets: tuple[float, ...]
    rows: dict[str, tuple[list[int], int, float]] = field(default_factory=dict)


def runs_by_pipeline_and_status() -> dict[tuple[str, str], int]:
    # COUNT(*), not of ids: PostgreSQL then reads the (pipeline, status) index alone.
    rows = PipelineRun.objects.values_list("pipeline__name", "status").annotate(n=Count("*")).order_by()
    return {(pipeline, status): n for pipeline, status, n in rows}


def steps_queued_by_queue() -> dict[str, int]:
    rows = StepRun.objects.filter(status=StepStatus.QUEUED).values_list("queue").annotate(n=Count("id")).order_by()
    return dict(rows)


def folded_until() -> datetime:
    """Every step and attempt that ended before this is in the totals."""
    mark = MetricsFold.objects.order_by().values_list("folded_until", flat=True).first()
    return mark or NOTHING_FOLDED


def _mark_of_totals() -> Coalesce:
    # The mark as the statement that reads the totals sees it (one snapshot).
    mark = MetricsFold.objects.order_by().values("folded_until")[:1]
    return Coalesce(Subquery(mark), Value(NOTHING_FOLDED), output_field=DateTimeField())


def _not_folded(mark: datetime) -> Q:
    # The mark is a literal, not a subquery, so that the planner sees how few rows
    # are past it and takes the `finished_at` index. A finished row without
    # `finished_at` (none is written so today) is never folded: read at every scrape.
    return Q(finished_at__gte=mark) | Q(finished_at__isnull=True)


def _with_totals(read: Callable[[datetime], Iterable[tuple]], mark: datetime | None) -> list[tuple]:
    """Rows of `read(mark)`: the totals, each with the mark its snapshot saw first,
    and the rows past `mark`. A fold that committed after `mark` was read moved the
    mark the totals go with: read again past that one (a fold runs once a minute)."""
    mark = mark or folded_until()
    for _ in range(5):
        rows = list(read(mark))
        moved = {row[0] for row in rows} - {mark}
        if not moved:
            return rows
        mark = moved.pop()
    raise DatabaseError("The /metrics totals kept moving while being read; scrape again.")


def attempts_by_outcome_and_retries(*, mark: datetime | None = None) -> tuple[dict[str, int], int]:
    """Attempts by outcome, and the attempts after a step's first (each is a retry,
    after a failure or a crash): the totals and the attempts not folded, one statement."""

    def read(mark: datetime) -> Iterable[tuple]:
        recent = StepAttempt.objects.filter(_not_folded(mark)).annotate(mark=Value(mark, DateTimeField()))
        return (
            StepAttemptTotal.objects.order_by()
            .annotate(mark=_mark_of_totals())
            .values_list("mark", "outcome", "retry", "count")
            .union(_attempt_groups(recent, "mark"), all=True)
        )

    by_outcome: Counter[str] = Counter()
    retries = 0
    for _mark, outcome, is_retry, n in _with_totals(read, mark):
        by_outcome[outcome] += n
        retries += n if is_retry else 0
    return dict(by_outcome), retries


def _attempt_groups(queryset: QuerySet[StepAttempt], *labels: str) -> QuerySet:
    retry = Case(When(number__gt=1, then=Value(True)), default=Value(False), output_field=BooleanField())
    return queryset.annotate(retry=retry).values_list(*labels, "outcome", "retry").annotate(n=Count("id")).order_by()


def attempt_groups(queryset: QuerySet[StepAttempt]) -> list[tuple[str, bool, int]]:
    """(outcome, retry, count) of the given attempts, for a fold."""
    return list(_attempt_groups(queryset))


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
    per_queue: Counter[str] = Counter()
    total = 0
    for queues in WorkerHeartbeat.objects.live().values_list("queues", flat=True):
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


def _bucket(elapsed: str, *, start: str, end: str, buckets: tuple[float, ...], timed: Q | None = None) -> Case:
    """The first bucket whose bound `elapsed` is under (len(buckets) past the last), or
    UNTIMED for a row that is not `timed` or lacks a timestamp."""
    untimed = Q(**{f"{start}__isnull": True}) | Q(**{f"{end}__isnull": True})
    if timed is not None:
        untimed = ~timed | untimed
    return Case(
        When(untimed, then=Value(UNTIMED)),
        *(When(**{f"{elapsed}__lte": bound}, then=Value(index)) for index, bound in enumerate(buckets)),
        default=Value(len(buckets)),
    )


def step_groups(queryset: QuerySet[StepRun], *labels: str, pipeline: str) -> QuerySet:
    """(pipeline, queue, status, duration bucket, wait bucket, count, duration sum,
    wait sum) of the given steps, from one scan of them; `pipeline` names the label
    column (the pipeline's name, or its id for a fold). A duration is from start to
    end (of the last attempt) of a completed or failed step, a wait from queued to
    started (the last attempt), UNTIMED where there is none."""
    return (
        queryset.alias(duration=Seconds("finished_at", "started_at"), wait=Seconds("started_at", "queued_at"))
        .annotate(
            duration_bucket=_bucket(
                "duration",
                start="started_at",
                end="finished_at",
                buckets=STEP_DURATION_BUCKETS,
                timed=Q(status__in=TIMED_STEP_STATUSES),
            ),
            wait_bucket=_bucket("wait", start="queued_at", end="started_at", buckets=QUEUE_WAIT_BUCKETS),
        )
        .values_list(*labels, pipeline, "queue", "status", "duration_bucket", "wait_bucket")
        .annotate(n=Count("id"), duration_sum=Sum("duration"), wait_sum=Sum("wait"))
        .order_by()
    )


def _histogram(rows: list[tuple[str, int, int, float]], buckets: tuple[float, ...]) -> HistogramRows:
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
    queue_waits_by_queue: HistogramRows


def steps_by_pipeline(*, mark: datetime | None = None) -> StepFigures:
    """Steps by pipeline and status, the durations of those that ran and the queue
    waits of those that started, in one statement: the totals, the finished steps
    not folded into them, and the steps still going (through the status index)."""

    def read(mark: datetime) -> Iterable[tuple]:
        totals = (
            StepRunTotal.objects.order_by()
            .annotate(mark=_mark_of_totals())
            .values_list(
                "mark",
                "pipeline__name",
                "queue",
                "status",
                "duration_bucket",
                "wait_bucket",
                "count",
                "duration_sum",
                "wait_sum",
            )
        )
        steps = StepRun.objects.annotate(mark=Value(mark, DateTimeField()))
        ended = steps.filter(_not_folded(mark), status__in=FINISHED_STEP_STATUSES)
        # Of the steps still going only the queue waits of those that started count.
        going = steps.filter(status__in=UNFINISHED_STEP_STATUSES, started_at__isnull=False)
        pipeline = "pipeline_run__pipeline__name"
        return totals.union(
            step_groups(ended, "mark", pipeline=pipeline), step_groups(going, "mark", pipeline=pipeline), all=True
        )

    counts: Counter[tuple[str, str]] = Counter()
    durations: list[tuple[str, int, int, float]] = []
    waits: list[tuple[str, int, int, float]] = []
    for _mark, pipeline, queue, status, duration_bucket, wait_bucket, n, duration_sum, wait_sum in _with_totals(
        read, mark
    ):
        counts[(pipeline, status)] += n
        durations.append((pipeline, duration_bucket, n, duration_sum))
        waits.append((queue, wait_bucket, n, wait_sum))
    return StepFigures(
        by_pipeline_and_status=dict(counts),
        durations_by_pipeline=_histogram(durations, STEP_DURATION_BUCKETS),
        queue_waits_by_queue=_histogram(waits, QUEUE_WAIT_BUCKETS),
    )
