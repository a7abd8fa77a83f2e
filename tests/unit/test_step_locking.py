"""How a step's claim and end lock rows, and how much of a run the end reads.

Every transaction that writes a run's row and its steps' rows takes the run's row
first: a claim that wrote its step before the run, while a step's end locked the
run before its step, deadlocked wide runs on PostgreSQL. The end of a step reads
the steps it can make ready, not the whole run: in a run of 1,000 branches every
end read 1,001 rows.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from pipelines.models import RunStatus, StepRun, StepStatus
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


@pytest.fixture
def published(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr("pipelines.dispatch.send_step", lambda step_run_id, queue: sent.append(step_run_id))
    return sent


class _Writes:
    """The tables each statement that locks rows touched, in order: updates and
    SELECT ... FOR UPDATE (SQLite has no row locks, so there a SELECT inside a
    transaction stands for the lock PostgreSQL would take)."""

    def __init__(self) -> None:
        self.tables: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        text = sql.lstrip().upper()
        locks = "FOR UPDATE" in text or "FOR NO KEY UPDATE" in text
        if not connection.features.has_select_for_update and connection.in_atomic_block:
            locks = locks or text.startswith("SELECT")
        if text.startswith("UPDATE") or locks:
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
def test_a_claim_locks_the_run_before_its_step(owner, published, run_status):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    writes = _Writes()

    with connection.execute_wrapper(writes):
        assert step_run_claim(step_run_id=load.id, worker="w", run_id=run.id, seen_attempt=0, run_status=run_status)

    assert writes.first("pipelines_pipelinerun") < writes.first("pipelines_steprun")


def test_a_failed_claim_leaves_the_step_and_its_run_as_they_were_but_for_a_bump(owner, published):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    assert step_run_claim(step_run_id=load.id, worker="w")

    assert step_run_claim(step_run_id=load.id, worker="late", run_id=run.id, seen_attempt=0) is None

    load.refresh_from_db()
    assert (load.status, load.attempt, load.worker) == (StepStatus.RUNNING, 1, "w")


def test_a_step_end_and_a_released_retry_lock_the_run_before_the_step(owner, published):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["steps"][0]["retry"] = {"max_retries": 1, "delay": 0, "backoff": 1}
    run = pipeline_run_create(spec=spec, user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    writes = _Writes()

    with connection.execute_wrapper(writes):
        assert step_run_fail(step_run_id=load.id, attempt=attempt, error="boom", inputs={}, timings=NO_TIMINGS, logs="")
    assert writes.first("pipelines_pipelinerun") < writes.first("pipelines_steprun")

    writes = _Writes()
    with connection.execute_wrapper(writes):
        assert step_runs_release_due_retries(now=timezone.now() + timedelta(hours=1)) == [load.id]
    assert writes.first("pipelines_pipelinerun") < writes.first("pipelines_steprun")


def test_ending_a_branch_of_a_wide_run_reads_only_the_steps_it_can_make_ready(owner, published, monkeypatch):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=200), user=owner)
    branch = run.steps.get(name="branch_0007")
    attempt = step_run_claim(step_run_id=branch.id, worker="w")
    rows_read = []
    row_class = step_services._StepRow
    monkeypatch.setattr(step_services, "_StepRow", lambda *values: rows_read.append(values) or row_class(*values))

    assert _complete(branch, attempt)

    # The branch itself and the pending join, not the 199 other branches.
    assert sorted(values[1] for values in rows_read) == ["branch_0007", "join"]


def test_the_join_of_a_wide_run_is_queued_by_its_last_branch_and_the_run_completes(owner, published):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=30), user=owner)
    branches = list(run.steps.exclude(name="join"))
    join = run.steps.get(name="join")
    published.clear()

    for branch in branches[:-1]:
        assert _complete(branch, step_run_claim(step_run_id=branch.id, worker="w"), keep_next=True)
        assert StepRun.objects.get(id=join.id).status == StepStatus.PENDING
    last = _complete(branches[-1], step_run_claim(step_run_id=branches[-1].id, worker="w"), keep_next=True)

    # Kept for the worker that ended the last branch, not sent to the broker.
    assert last.next_step_run_id == join.id
    assert published == []
    assert StepRun.objects.get(id=join.id).status == StepStatus.QUEUED
    assert _complete(join, step_run_claim(step_run_id=join.id, worker="w"))
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def test_a_branch_ending_after_another_failed_ends_the_run_failed(owner, published):
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


def test_a_run_is_created_even_when_marking_its_steps_as_sent_fails(api, published, monkeypatch):
    # The mark is written after the run's transaction committed (on PostgreSQL it
    # once lost a deadlock there): the caller must get its run, not a 500.
    def refuse(self, **fields):
        if "dispatched_at" in fields:
            raise OperationalError("deadlock detected")
        return real_update(self, **fields)

    real_update = type(StepRun.objects.all()).update
    monkeypatch.setattr(type(StepRun.objects.all()), "update", refuse)

    response = api.post("/api/v1/runs/", sample.numbers_pipeline.compile(scale=2), format="json")

    assert response.status_code == 201, response.content
    assert len(published) == 1
    assert StepRun.objects.get(id=published[0]).dispatched_at is None  # the reaper sends it again
