"""Folding finished steps and attempts into the /metrics totals.

`pipelines.selectors.metrics` explains why the totals exist. Here is how they stay
exact: every write to the totals holds the lock on the one `MetricsFold` row, and
moves its mark in the same transaction, so a step is folded once, by whichever of
these comes first:

- `metrics_totals_fold`, from a scrape: the steps and attempts that ended between the
  mark and `FOLD_GRACE` ago; the mark moves there. It does nothing when the mark is
  less than `FOLD_EVERY` behind, or when another process holds the lock (a scrape
  never waits for one: it reads past the mark instead).
- `metrics_totals_fold_runs`, from prune, in the transaction that deletes the runs:
  their steps and attempts not folded yet. The counters then keep the deleted steps.

The grace is there because a step's `finished_at` is set inside the transaction that
ends it, a little before its commit: a mark at the clock's time could pass a step not
committed yet, which would then never be counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from pipelines.models import (
    FINISHED_STEP_STATUSES,
    MetricsFold,
    StepAttempt,
    StepAttemptTotal,
    StepRun,
    StepRunTotal,
)
from pipelines.selectors.metrics import NOTHING_FOLDED, UNTIMED, attempt_groups, folded_until, step_groups

FOLD_GRACE = timedelta(minutes=5)
FOLD_EVERY = timedelta(minutes=1)


def metrics_totals_fold(*, mark: datetime | None = None, now: datetime | None = None) -> datetime:
    """Fold what ended up to FOLD_GRACE ago into the totals when the mark (read here
    unless given) is FOLD_EVERY behind that; return the mark as it is now, or as it
    was when another process was folding."""
    mark = mark or folded_until()
    until = (now or timezone.now()) - FOLD_GRACE
    if until - mark < FOLD_EVERY:
        return mark
    with transaction.atomic():
        state = _lock(wait=False)
        if state is None:
            return mark
        if until - state.folded_until < FOLD_EVERY:
            return state.folded_until
        ended = Q(finished_at__gte=state.folded_until, finished_at__lt=until)
        _add_steps(StepRun.objects.filter(ended, status__in=FINISHED_STEP_STATUSES))
        _add_attempts(StepAttempt.objects.filter(ended))
        state.folded_until = until
        state.save(update_fields=["folded_until"])
    return until


def metrics_totals_fold_runs(*, run_ids: Iterable[int]) -> None:
    """Fold the steps and attempts of these finished runs that are not in the totals
    yet; call it in the transaction that deletes the runs, just before."""
    ids = sorted(run_ids)
    if not ids:
        return
    state = _lock(wait=True)
    assert state is not None
    fresh = Q(finished_at__gte=state.folded_until) | Q(finished_at__isnull=True)
    _add_steps(StepRun.objects.filter(fresh, pipeline_run_id__in=ids, status__in=FINISHED_STEP_STATUSES))
    _add_attempts(StepAttempt.objects.filter(fresh, step_run__pipeline_run_id__in=ids))


def _lock(*, wait: bool) -> MetricsFold | None:
    """The fold's row, locked for this transaction; None when another process holds it
    and `wait` is False."""
    state = MetricsFold.objects.select_for_update(skip_locked=not wait).order_by("id").first()
    if state is not None:
        return state
    state, created = MetricsFold.objects.get_or_create(id=1, defaults={"folded_until": NOTHING_FOLDED})
    if created:
        return state
    # Made by another process meanwhile: lock it as it is.
    return MetricsFold.objects.select_for_update(skip_locked=not wait).filter(id=state.id).first()


def _add_steps(steps: QuerySet[StepRun]) -> None:
    rows = list(step_groups(steps, pipeline="pipeline_run__pipeline_id"))
    if not rows:
        return
    existing = {
        (t.pipeline_id, t.queue, t.status, t.duration_bucket, t.wait_bucket): t
        for t in StepRunTotal.objects.filter(pipeline_id__in={row[0] for row in rows})
    }
    changed, new = [], []
    for pipeline_id, queue, status, duration_bucket, wait_bucket, n, duration_sum, wait_sum in rows:
        duration = float(duration_sum or 0.0) if duration_bucket != UNTIMED else 0.0
        wait = float(wait_sum or 0.0) if wait_bucket != UNTIMED else 0.0
        total = existing.get((pipeline_id, queue, status, duration_bucket, wait_bucket))
        if total is None:
            new.append(
                StepRunTotal(
                    pipeline_id=pipeline_id,
                    queue=queue,
                    status=status,
                    duration_bucket=duration_bucket,
                    wait_bucket=wait_bucket,
                    count=n,
                    duration_sum=duration,
                    wait_sum=wait,
                )
            )
        else:
            total.count += n
            total.duration_sum += duration
            total.wait_sum += wait
            changed.append(total)
    # Read-then-write is safe here: every writer of the totals holds the fold's lock.
    StepRunTotal.objects.bulk_update(changed, ["count", "duration_sum", "wait_sum"])
    StepRunTotal.objects.bulk_create(new)


def _add_attempts(attempts: QuerySet[StepAttempt]) -> None:
    rows = attempt_groups(attempts)
    if not rows:
        return
    existing = {(t.outcome, t.retry): t for t in StepAttemptTotal.objects.all()}
    changed, new = [], []
    for outcome, retry, n in rows:
        total = existing.get((outcome, retry))
        if total is None:
            new.append(StepAttemptTotal(outcome=outcome, retry=retry, count=n))
        else:
            total.count += n
            changed.append(total)
    StepAttemptTotal.objects.bulk_update(changed, ["count"])
    StepAttemptTotal.objects.bulk_create(new)
