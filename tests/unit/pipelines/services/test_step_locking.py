"""How a step's claim and end lock rows, and how much of a run the end reads.

A claim wrote its step, then the run, while a step's end locked the run, then its
step: wide runs deadlocked on PostgreSQL. Now a claim moves the run only after its own
transaction (a mere bump of the run's revision, which never waits for the run's row,
shares it), and a step's end (success, failure, crash) writes its own step
first and locks the run last, so the ends of a wide run's steps wait on the run's
row only for their last statements. Stopping a run and releasing a retry lock the
run, then unstarted steps, which no one waits for the run while holding. The end of
a step reads the steps it can make ready, not the whole run: in a run of 1,000
branches every end read 1,001 rows.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipelines.models import PipelineRun, RunStatus, StepRun, StepStatus
from pipelines.services import steps as step_services
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import (
    StepTimings,
    step_run_claim,
    step_run_complete,
    step_run_fail,
    step_runs_release_due_retries,
)
from tests.integration import sample_pipelines as sample
from tests.integration import wide_pipelines

pytestmark = pytest.mark.django_db(transaction=True)

NO_TIMINGS = StepTimings(None, None)


class _Writes:
    """The tables each statement that locks rows touched, in order: updates and
    SELECT ... FOR UPDATE (SQLite has no row locks: there `_lock_run`'s SELECT, the
    one that reads the run's queue, stands for the lock PostgreSQL takes)."""

    def __init__(self) -> None:
        self.tables: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        text = sql.lstrip().upper()
        locks = "FOR UPDATE" in text or "FOR NO KEY UPDATE" in text
        if not connection.features.has_select_for_update:
            locks = locks or (text.startswith("SELECT") and '"PIPELINES_PIPELINERUN"."QUEUE"' in text)
        if text.startswith("WITH"):
            # A data-modifying WITH (PostgreSQL): the tables its UPDATEs write, in order.
            for target in re.findall(r'UPDATE "(PIPELINES_PIPELINERUN|PIPELINES_STEPRUN)"', text):
                self.tables.append(target.lower())
        elif text.startswith("UPDATE") or locks:
            for table in ("PIPELINES_PIPELINERUN", "PIPELINES_STEPRUN"):
                if f'"{table}"' in text.split(" WHERE ")[0]:
                    self.tables.append(table.lower())
        return execute(sql, params, many, context)

    def first(self, table: str) -> int:
        return self.tables.index(table)


def _complete(step: StepRun, attempt: int, **kwargs):
    return step_run_complete(
        step_run_id=step.id, attempt=attempt, inputs={}, outputs=[], timings=NO_TIMINGS, logs="", **kwargs
    )


@pytest.mark.parametrize("run_status", [None, RunStatus.INITIALIZING, RunStatus.RUNNING])
def test_a_claim_writes_the_run_only_after_committing_its_step(owner, broker, run_status, monkeypatch):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    writes = _Writes()
    default = connections["default"]
    commit = default.commit
    monkeypatch.setattr(default, "commit", lambda: writes.tables.append("commit") or commit())

    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(writes):
        assert step_run_claim(step_run_id=load.id, worker="w", run_id=run.id, seen_attempt=0, run_status=run_status)

    if run_status == RunStatus.RUNNING or connection.vendor == "postgresql":
        # Only a write that never waits for the run's row (SKIP LOCKED): a bump, or a
        # run's first claim moving its run while nobody holds the row, so it shares
        # the claim's transaction without holding the step's row while it waits.
        assert writes.tables == ["pipelines_steprun", "pipelines_pipelinerun", "commit"]
        if connection.vendor == "postgresql":
            write = next(q["sql"] for q in queries if q["sql"].startswith('UPDATE "pipelines_pipelinerun"'))
            assert "SKIP LOCKED" in write
    else:
        assert writes.tables == ["pipelines_steprun", "commit", "pipelines_pipelinerun", "commit"]
    run.refresh_from_db()
    # (Told it was running already, the claim only bumps the run.)
    assert run.status == (RunStatus.INITIALIZING if run_status == RunStatus.RUNNING else RunStatus.RUNNING)


def test_a_failed_claim_leaves_the_step_and_its_run_as_they_were_but_for_a_bump(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    assert step_run_claim(step_run_id=load.id, worker="w")

    assert step_run_claim(step_run_id=load.id, worker="late", run_id=run.id, seen_attempt=0) is None

    load.refresh_from_db()
    assert (load.status, load.attempt, load.worker) == (StepStatus.RUNNING, 1, "w")


def test_a_failed_step_locks_the_run_after_its_step_and_a_released_retry_before(owner, broker):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["steps"][0]["retry"] = {"max_retries": 1, "delay": 0, "backoff": 1}
    run = pipeline_run_create(spec=spec, user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    writes = _Writes()

    with connection.execute_wrapper(writes):
        assert step_run_fail(step_run_id=load.id, attempt=attempt, error="boom", inputs={}, timings=NO_TIMINGS, logs="")
    assert writes.first("pipelines_steprun") < writes.first("pipelines_pipelinerun")

    writes = _Writes()
    with connection.execute_wrapper(writes):
        assert step_runs_release_due_retries(now=timezone.now() + timedelta(hours=1)) == [load.id]
    assert writes.first("pipelines_pipelinerun") < writes.first("pipelines_steprun")


def test_a_completed_step_locks_the_run_after_its_own_row(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    writes = _Writes()

    with connection.execute_wrapper(writes):
        assert _complete(load, attempt)

    assert writes.first("pipelines_steprun") < writes.first("pipelines_pipelinerun")


def test_a_step_failing_while_its_run_starts_stopping_is_not_retried(owner, broker, monkeypatch):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["steps"][0]["retry"] = {"max_retries": 3, "delay": 0, "backoff": 1}
    run = pipeline_run_create(spec=spec, user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    # Read as running (as it was a moment before), stopping by the time it is locked.
    PipelineRun.objects.filter(id=run.id).update(status=RunStatus.STOPPING)
    stale_reads = [False]
    real = step_services._is_stopping

    def stale_then_real(run_id):
        return stale_reads.pop() if stale_reads else real(run_id)

    monkeypatch.setattr(step_services, "_is_stopping", stale_then_real)

    assert step_run_fail(step_run_id=load.id, attempt=attempt, error="boom", inputs={}, timings=NO_TIMINGS, logs="")

    load.refresh_from_db()
    assert load.status == StepStatus.FAILED
    assert load.failure_count == 1
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED


def test_ending_a_branch_of_a_wide_run_reads_only_the_steps_it_can_make_ready(owner, broker, monkeypatch):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=200), user=owner)
    branch = run.steps.get(name="branch_0007")
    attempt = step_run_claim(step_run_id=branch.id, worker="w")
    rows_read = []
    row_class = step_services._StepRow
    monkeypatch.setattr(step_services, "_StepRow", lambda *values: rows_read.append(values) or row_class(*values))

    assert _complete(branch, attempt)

    # The pending join, not the 199 other branches.
    assert [values[1] for values in rows_read] == ["join"]


def test_the_join_of_a_wide_run_is_queued_by_its_last_branch_and_the_run_completes(owner, broker):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=30), user=owner)
    branches = list(run.steps.exclude(name="join"))
    join = run.steps.get(name="join")
    broker.sent.clear()

    for branch in branches[:-1]:
        assert _complete(branch, step_run_claim(step_run_id=branch.id, worker="w"), keep_next=True)
        assert StepRun.objects.get(id=join.id).status == StepStatus.PENDING
    last = _complete(branches[-1], step_run_claim(step_run_id=branches[-1].id, worker="w"), keep_next=True)

    # Kept for the worker that ended the last branch, not sent to the broker.
    assert last.next_step_run_id == join.id
    assert broker.sent == []
    assert StepRun.objects.get(id=join.id).status == StepStatus.QUEUED
    assert _complete(join, step_run_claim(step_run_id=join.id, worker="w"))
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def test_a_branch_ending_after_another_failed_ends_the_run_failed(owner, broker):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=2), user=owner)
    first, second = run.steps.get(name="branch_0000"), run.steps.get(name="branch_0001")
    assert step_run_fail(
        step_run_id=first.id,
        attempt=step_run_claim(step_run_id=first.id, worker="w"),
        error="boom",
        inputs={},
        timings=NO_TIMINGS,
        logs="",
        retryable=False,
    )
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # the other branch still runs

    assert _complete(second, step_run_claim(step_run_id=second.id, worker="w"))

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert dict(run.steps.values_list("name", "status"))["join"] == StepStatus.SKIPPED


def test_a_run_is_created_even_when_marking_its_steps_as_sent_fails(api, broker):
    # The mark is written after the run's transaction committed (on PostgreSQL it
    # once lost a deadlock there): the caller must get its run, not a 500.
    def refuse(execute, sql, params, many, context):
        if sql.startswith("UPDATE") and "dispatched_at" in sql:
            raise OperationalError("deadlock detected")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        response = api.post("/api/v1/runs/", sample.numbers_pipeline.compile(scale=2), format="json")

    assert response.status_code == 201, response.content
    assert len(broker.sent) == 1
    assert StepRun.objects.get(id=broker.sent[0]).dispatched_at is None  # the reaper sends it again


def _hold_the_run_row(run_id: int, locked: threading.Event, release: threading.Event) -> None:
    """In a thread of its own: lock the run's row, say so, and hold it until released."""
    try:
        with transaction.atomic():
            PipelineRun.objects.select_for_update().get(id=run_id)
            locked.set()
            release.wait(10)
    finally:
        connection.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only (SQLite locks the database)")
def test_a_claim_does_not_wait_for_the_run_row_another_transaction_holds(owner, broker):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=2), user=owner)
    first, second = run.steps.get(name="branch_0000"), run.steps.get(name="branch_0001")
    assert step_run_claim(step_run_id=first.id, worker="w")  # the run is running now
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_the_run_row, args=(run.id, locked, release))
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        assert step_run_claim(
            step_run_id=second.id, worker="w", run_id=run.id, seen_attempt=0, run_status=RunStatus.RUNNING
        )
        assert time.monotonic() - started < 2
    finally:
        release.set()
        holder.join()
    assert StepRun.objects.get(id=second.id).status == StepStatus.RUNNING


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only (SQLite locks the database)")
def test_a_run_s_first_claim_commits_its_step_before_waiting_for_the_run_row_another_transaction_holds(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    locked, release = threading.Event(), threading.Event()
    claimed: list[int | None] = []

    def claim() -> None:
        try:
            claimed.append(step_run_claim(step_run_id=load.id, worker="w", run_id=run.id, seen_attempt=0))
        finally:
            connection.close()

    holder = threading.Thread(target=_hold_the_run_row, args=(run.id, locked, release))
    claimer = threading.Thread(target=claim)
    holder.start()
    try:
        assert locked.wait(10)
        claimer.start()
        deadline = time.monotonic() + 5
        while StepRun.objects.get(id=load.id).status != StepStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.02)
        # The step's claim is committed; the run's move waits for the row, after it.
        assert StepRun.objects.get(id=load.id).status == StepStatus.RUNNING
        assert claimer.is_alive()
        assert PipelineRun.objects.get(id=run.id).status == RunStatus.INITIALIZING
    finally:
        release.set()
        holder.join()
        claimer.join(10)
    assert claimed == [1]
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.RUNNING


def _nap_steps(run: PipelineRun) -> list[StepRun]:
    return list(run.steps.filter(name__startswith="nap").order_by("id"))


def _record_commits(monkeypatch) -> list[str]:
    """Each commit, as "commit" or, when it does not wait for the flush, "commit
    without flush": on PostgreSQL as the transaction's own setting says at its commit
    (the services may set it with any statement), elsewhere as the services ask."""
    events: list[str] = []
    default = connections["default"]
    asked: list[bool] = []
    monkeypatch.setattr(step_services, "_commit_without_flush", lambda: asked.append(True))

    def flushes() -> bool:
        if default.vendor != "postgresql":
            return not (asked and asked.pop())
        with default.cursor() as cursor:
            cursor.execute("SELECT current_setting('synchronous_commit')")
            return cursor.fetchone()[0] != "off"

    commit = default.commit
    monkeypatch.setattr(
        default, "commit", lambda: events.append("commit" if flushes() else "commit without flush") or commit()
    )
    return events


def test_a_completion_commits_the_step_with_a_flush_before_touching_the_run(owner, broker, monkeypatch):
    # A branch whose downstream step waits on another branch too: the run's row,
    # which every end of the run's steps waits for, is locked by a second
    # transaction, after the flush.
    run = pipeline_run_create(spec=sample.parallel_pipeline.compile(seconds=0), user=owner)
    nap = _nap_steps(run)[0]
    attempt = step_run_claim(step_run_id=nap.id, worker="w")
    events = _record_commits(monkeypatch)
    writes = _Writes()

    with connection.execute_wrapper(writes):
        assert _complete(nap, attempt)

    # The step's own transaction ends with an ordinary (flushed) commit; only the
    # one that locks the run skips the flush.
    assert events == ["commit", "commit without flush"]
    assert writes.first("pipelines_steprun") < writes.first("pipelines_pipelinerun")


def test_a_chain_link_is_ended_and_its_next_step_queued_in_one_flushed_commit(owner, broker, monkeypatch):
    # `total` waits on `load` alone: nothing else of the run can end meanwhile, so
    # queueing it with load's end makes no other end wait for the flush.
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load, total = run.steps.get(name="load"), run.steps.get(name="total")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    broker.sent.clear()
    events = _record_commits(monkeypatch)
    writes = _Writes()

    with connection.execute_wrapper(writes):
        assert _complete(load, attempt)

    assert events == ["commit"]
    assert writes.first("pipelines_steprun") < writes.first("pipelines_pipelinerun")
    assert StepRun.objects.get(id=total.id).status == StepStatus.QUEUED
    assert broker.sent == [total.id]


def test_a_chain_link_whose_end_fails_midway_leaves_its_step_to_the_reaper(owner, broker, monkeypatch):
    # One transaction: nothing of the end is kept, the attempt still owns its step.
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load, total = run.steps.get(name="load"), run.steps.get(name="total")

    def crash(*args, **kwargs):
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(step_services, "_after_step_success", crash)
    with pytest.raises(RuntimeError):
        _complete(load, step_run_claim(step_run_id=load.id, worker="w"))
    assert StepRun.objects.get(id=load.id).status == StepStatus.RUNNING
    assert StepRun.objects.get(id=total.id).status == StepStatus.PENDING


def test_a_step_end_cut_short_before_its_second_transaction_is_moved_on_by_the_reaper(owner, broker, monkeypatch):
    run = pipeline_run_create(spec=sample.parallel_pipeline.compile(seconds=0), user=owner)
    first, second = _nap_steps(run)
    add_up = run.steps.get(name="add_up")
    assert _complete(second, step_run_claim(step_run_id=second.id, worker="w"))
    broker.sent.clear()

    def crash(*args, **kwargs):
        raise RuntimeError("the worker died here")

    with monkeypatch.context() as patched:
        patched.setattr(step_services, "_after_step_success", crash)
        with pytest.raises(RuntimeError):
            _complete(first, step_run_claim(step_run_id=first.id, worker="w"))
    assert StepRun.objects.get(id=first.id).status == StepStatus.COMPLETED  # committed
    assert StepRun.objects.get(id=add_up.id).status == StepStatus.PENDING  # never queued

    # Within the grace period nothing is done (a step's end may be between its two transactions).
    assert step_services.pipeline_runs_advance_stalled(grace=60) == []
    later = timezone.now() + timedelta(seconds=61)
    assert step_services.pipeline_runs_advance_stalled(grace=60, now=later) == [run.id]
    assert broker.sent == [add_up.id]
    assert step_services.pipeline_runs_advance_stalled(grace=60, now=later) == []  # queued: not stalled

    with monkeypatch.context() as patched:
        patched.setattr(step_services, "_after_step_success", crash)
        with pytest.raises(RuntimeError):
            _complete(add_up, step_run_claim(step_run_id=add_up.id, worker="w"))
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.RUNNING
    assert step_services.pipeline_runs_advance_stalled(grace=60, now=timezone.now() + timedelta(seconds=61)) == [run.id]
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.COMPLETED


def test_the_reaper_leaves_alone_a_run_with_work_under_way(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    later = timezone.now() + timedelta(hours=1)

    assert step_services.pipeline_runs_advance_stalled(grace=60, now=later) == []  # queued
    step_run_claim(step_run_id=load.id, worker="w")
    assert step_services.pipeline_runs_advance_stalled(grace=60, now=later) == []  # running
    assert dict(run.steps.values_list("name", "status")) == {"load": "running", "total": "pending"}


def test_a_branch_end_whose_join_is_still_pending_does_not_ask_whether_the_run_has_ended(owner, broker, monkeypatch):
    # Every end of a wide run's branches holds the run's row: the join found still
    # pending under it answers that the run goes on, without a statement of its own.
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=3), user=owner)
    branches = list(run.steps.filter(name__startswith="branch_").order_by("name"))
    asked: list[int] = []
    has_unfinished = step_services._has_unfinished
    monkeypatch.setattr(step_services, "_has_unfinished", lambda run_id: asked.append(run_id) or has_unfinished(run_id))

    for branch in branches[:2]:
        assert _complete(branch, step_run_claim(step_run_id=branch.id, worker="w"))
    assert asked == []
    assert StepRun.objects.get(pipeline_run=run, name="join").status == StepStatus.PENDING

    assert _complete(branches[2], step_run_claim(step_run_id=branches[2].id, worker="w"))
    assert StepRun.objects.get(pipeline_run=run, name="join").status == StepStatus.QUEUED
