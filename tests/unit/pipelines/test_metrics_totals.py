"""/metrics running totals: folded figures equal a recount of every row, across folds,
steps that end between scrapes, a fold that commits mid-read, and prune."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipelines.models import (
    FINISHED_STEP_STATUSES,
    MetricsFold,
    Pipeline,
    PipelineRun,
    StepAttempt,
    StepAttemptTotal,
    StepRun,
    StepRunTotal,
)
from pipelines.selectors import metrics as figures
from pipelines.services.metrics import FOLD_EVERY, FOLD_GRACE, metrics_totals_fold
from pipelines.services.retention import prune_execute, prune_plan

pytestmark = pytest.mark.django_db

TIMED = ("completed", "failed")


def make_run(pipeline: str, *, status: str = "completed") -> PipelineRun:
    row, _ = Pipeline.objects.get_or_create(name=pipeline)
    count = PipelineRun.objects.count()
    return PipelineRun.objects.create(pipeline=row, name=f"{pipeline}-{count}", spec={}, status=status)


def add_step(
    run: PipelineRun,
    status: str,
    *,
    ended_ago: timedelta = timedelta(minutes=10),
    waited: float = 0.02,
    ran: float = 3.0,
    queue: str = "pipelines",
    attempts: int = 1,
) -> StepRun:
    """A step that ended `ended_ago` (a running one started `ran` s before that)."""
    end = timezone.now() - ended_ago
    started = end - timedelta(seconds=ran)
    queued = started - timedelta(seconds=waited)
    ran_code = status in ("completed", "failed", "running")
    step = StepRun.objects.create(
        pipeline_run=run,
        name=f"s{run.steps.count()}",
        source="steps:s",
        spec={},
        status=status,
        queue=queue,
        attempt=attempts if ran_code else 0,
        queued_at=queued if status != "skipped" else None,
        started_at=started if ran_code else None,
        finished_at=end if status != "running" else None,
    )
    outcome = {"completed": "completed", "failed": "failed", "running": "running"}.get(status)
    for number in range(1, attempts + 1 if outcome else 1):
        last = number == attempts
        StepAttempt.objects.create(
            step_run=step,
            number=number,
            outcome=outcome if last else "crashed",
            started_at=started,
            finished_at=None if last and outcome == "running" else end,
        )
    return step


def history(pipeline: str = "train", *, ended_ago: timedelta = timedelta(minutes=10)) -> list[PipelineRun]:
    """Two finished runs and a running one: every finished status, two queues, retries."""
    first = make_run(pipeline)
    add_step(first, "completed", ended_ago=ended_ago, waited=0.02, ran=3.0)
    add_step(first, "completed", ended_ago=ended_ago, waited=7.0, ran=0.05, queue="gpu", attempts=2)
    add_step(first, "cached", ended_ago=ended_ago)
    second = make_run(pipeline, status="failed")
    add_step(second, "failed", ended_ago=ended_ago, waited=0.3, ran=400.0, attempts=3)
    add_step(second, "skipped", ended_ago=ended_ago)
    add_step(second, "stopped", ended_ago=ended_ago)
    going = make_run(pipeline, status="running")
    add_step(going, "completed", ended_ago=ended_ago, ran=12.0)
    add_step(going, "running", ended_ago=timedelta(0), waited=42.0, ran=1.0)
    add_step(going, "pending")
    return [first, second, going]


def recount() -> dict[str, Any]:
    """The figures from every row, in Python: what the totals must add up to."""
    counts: Counter[tuple[str, str]] = Counter()
    durations: dict[str, list] = {}
    waits: dict[str, list] = {}

    def observe(into: dict[str, list], label: str, seconds: float, bounds: tuple[float, ...]) -> None:
        buckets, total = into.setdefault(label, [[0] * (len(bounds) + 1), [0.0]])
        buckets[bisect_left(bounds, seconds)] += 1
        total[0] += seconds

    for step in StepRun.objects.select_related("pipeline_run__pipeline"):
        pipeline = step.pipeline_run.pipeline.name
        if step.status in FINISHED_STEP_STATUSES:
            counts[(pipeline, step.status)] += 1
        if step.status in TIMED and step.started_at and step.finished_at:
            seconds = (step.finished_at - step.started_at).total_seconds()
            observe(durations, pipeline, seconds, figures.STEP_DURATION_BUCKETS)
        if step.started_at and step.queued_at:
            observe(waits, step.queue, (step.started_at - step.queued_at).total_seconds(), figures.QUEUE_WAIT_BUCKETS)
    outcomes = Counter(StepAttempt.objects.values_list("outcome", flat=True))
    retries = StepAttempt.objects.filter(number__gt=1).count()

    def cumulative(into: dict[str, list]) -> dict[str, tuple]:
        result = {}
        for label, (buckets, total) in into.items():
            running = [sum(buckets[: i + 1]) for i in range(len(buckets) - 1)]
            result[label] = (running, sum(buckets), total[0])
        return result

    return flat(
        {
            "steps": dict(counts),
            "durations": cumulative(durations),
            "waits": cumulative(waits),
            "attempts": dict(outcomes),
            "retries": retries,
        }
    )


def flat(figures: dict[str, Any]) -> dict[tuple, float]:
    """{(figure, label..., position): number}, to compare sums of seconds approximately."""
    found: dict[tuple, float] = {}

    def walk(key: tuple, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk((*key, k), v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk((*key, i), v)
        else:
            found[key] = value

    walk((), figures)
    return found


def approx(expected: dict[tuple, float]) -> Any:
    # Sums of seconds, added in another order by the database.
    return pytest.approx(expected, abs=1e-3)


def scraped(mark: datetime | None = None) -> dict[str, Any]:
    """The same figures as /metrics reads them (totals + rows past the mark)."""
    steps = figures.steps_by_pipeline(mark=mark)
    attempts, retries = figures.attempts_by_outcome_and_retries(mark=mark)

    return flat(
        {
            "steps": {key: n for key, n in steps.by_pipeline_and_status.items() if key[1] in FINISHED_STEP_STATUSES},
            "durations": steps.durations_by_pipeline.rows,
            "waits": steps.queue_waits_by_queue.rows,
            "attempts": attempts,
            "retries": retries,
        }
    )


def fold_everything() -> datetime:
    """Fold every step that ended until now (the grace put behind us)."""
    return metrics_totals_fold(now=timezone.now() + FOLD_GRACE + timedelta(seconds=1))


def test_before_any_fold_the_figures_are_a_recount_of_every_row():
    history()

    assert not StepRunTotal.objects.exists()
    assert scraped() == approx(recount())


def test_folded_figures_equal_a_recount_and_come_from_the_totals():
    history("train")
    history("serve")
    expected = recount()

    mark = fold_everything()

    assert MetricsFold.objects.get().folded_until == mark
    assert StepRunTotal.objects.exists()
    assert StepAttemptTotal.objects.exists()
    # Every finished step is in the totals now; only the running one is read live.
    assert (
        sum(StepRunTotal.objects.values_list("count", flat=True))
        == StepRun.objects.filter(status__in=FINISHED_STEP_STATUSES).count()
    )
    assert scraped() == approx(expected)
    assert expected[("steps", ("serve", "cached"))] == 1
    assert expected[("retries",)] == 6


def test_steps_that_end_between_scrapes_are_counted_once_across_folds():
    runs = history()
    metrics_totals_fold()  # as a scrape does: up to FOLD_GRACE ago
    assert StepRunTotal.objects.exists()

    # Between scrapes: a step that ended 4 minutes ago (past the mark, inside the
    # grace), one a minute ago, and the running step ends now.
    add_step(runs[2], "completed", ended_ago=timedelta(minutes=4), waited=0.004, ran=0.2)
    add_step(runs[2], "failed", ended_ago=timedelta(minutes=1), ran=50.0, attempts=2)
    running = runs[2].steps.get(status="running")
    StepRun.objects.filter(id=running.id).update(status="completed", finished_at=timezone.now())
    StepAttempt.objects.filter(step_run=running).update(outcome="completed", finished_at=timezone.now())
    assert scraped() == approx(recount())

    # Two minutes later a scrape folds the first; the others are still read past the mark.
    mark = metrics_totals_fold(now=timezone.now() + FOLD_EVERY * 2)
    assert StepRun.objects.filter(finished_at__gte=mark).count() == 2
    assert scraped() == approx(recount())
    fold_everything()
    assert scraped() == approx(recount())
    # Nothing is counted twice however often scrapes come.
    assert metrics_totals_fold() == MetricsFold.objects.get().folded_until
    assert scraped() == approx(recount())


def test_a_fold_that_commits_while_a_scrape_reads_is_seen_whole(django_assert_num_queries):
    history()
    stale = figures.folded_until()
    fold_everything()
    expected = recount()

    # The scrape read the mark before the fold committed, the totals after: the totals
    # come with the mark they go with, and it reads past that one instead.
    with django_assert_num_queries(2):
        steps = figures.steps_by_pipeline(mark=stale)
    attempts, retries = figures.attempts_by_outcome_and_retries(mark=stale)

    finished = {("steps", k): n for k, n in steps.by_pipeline_and_status.items() if k[1] in FINISHED_STEP_STATUSES}
    assert finished == {k: v for k, v in expected.items() if k[0] == "steps"}
    assert {("attempts", k): n for k, n in attempts.items()} == {
        k: v for k, v in expected.items() if k[0] == "attempts"
    }
    assert retries == expected[("retries",)]
    assert scraped(mark=stale) == approx(expected)


def test_prune_keeps_the_step_counters_and_drops_the_run_gauge():
    history("train")
    # Runs that ended a minute ago: inside the grace, not folded by a scrape yet.
    fresh = history("fresh", ended_ago=timedelta(minutes=1))
    metrics_totals_fold()
    before = recount()
    assert MetricsFold.objects.get().folded_until < min(
        s.finished_at for s in StepRun.objects.filter(pipeline_run__in=fresh[:2])
    )

    result = prune_execute(plan=prune_plan(keep_last=0))

    assert result.runs_deleted == 4  # the finished runs; the running ones stay
    assert not StepRun.objects.filter(pipeline_run__in=fresh[:2]).exists()
    # Monotonic: the deleted steps and attempts still count, once.
    assert scraped() == approx(before)
    fold_everything()
    assert scraped() == approx(before)
    # The run gauge counts the runs there are.
    assert figures.runs_by_pipeline_and_status() == {("train", "running"): 1, ("fresh", "running"): 1}


def test_steady_scrapes_cost_the_same_statements_at_any_size():
    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            scraped(mark=figures.folded_until())
        return len(queries)

    history()
    metrics_totals_fold(now=timezone.now() - timedelta(hours=1))
    small = statements()
    # More pipelines, more steps in the totals and more past the mark.
    for index in range(4):
        history(f"p{index}")
        history(f"p{index}", ended_ago=timedelta(minutes=1))
    metrics_totals_fold()

    assert statements() == small == 3  # the mark, the steps, the attempts
    assert scraped() == approx(recount())


def test_a_fold_costs_the_same_statements_at_any_size():
    def fold_statements(now: datetime) -> int:
        with CaptureQueriesContext(connection) as queries:
            metrics_totals_fold(now=now)
        return len(queries)

    history("a", ended_ago=timedelta(hours=2))
    metrics_totals_fold(now=timezone.now() - timedelta(hours=1))
    history("a")
    history("n0")
    small = fold_statements(timezone.now())
    for index in range(5):
        history("a", ended_ago=timedelta(minutes=2))
        history(f"b{index}", ended_ago=timedelta(minutes=2))
    large = fold_statements(timezone.now() + FOLD_GRACE)

    # Ten statements (and the test transaction's savepoint around them).
    assert small == large <= 12
    assert scraped() == approx(recount())
