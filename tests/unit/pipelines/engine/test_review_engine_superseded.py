"""Review of the step end (issue 12): outputs are reserved only before a durable file
write, which now comes after the step's code ran. When the reaper gave up on the
attempt meanwhile (its heartbeats stopped reaching the database), the reservation
finds the step taken (`AttemptSuperseded`): the step is the reaper's retry now. That
attempt must leave quietly, as a refused end does: its files removed, and no
on_failure hook (the step is being retried, not failed), nor a "could not save output,
give it a materializer" error.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from pipelines import pipeline, step
from pipelines.engine import executor
from pipelines.models import PipelineRun, StepStatus
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_runs_reap_crashed
from pipelines.storage import artifact_store

pytestmark = pytest.mark.django_db(transaction=True)

HOOK_CALLS: list[str] = []


def record_failure(exception: BaseException):
    HOOK_CALLS.append(f"{type(exception).__name__}: {exception}")


@step(enable_cache=False, on_failure=record_failure)
def produce_large() -> list:
    return list(range(2000))  # too large for its row: reserved before its durable write


@pipeline(enable_cache=False)
def large_output():
    produce_large()


def test_an_attempt_reaped_before_its_outputs_reservation_leaves_quietly(owner, broker, monkeypatch):
    HOOK_CALLS.clear()
    real_reserve = executor.artifact_versions_reserve
    reaped: list[int] = []

    def reaped_first(*, step_run_id, attempt, outputs):
        if not reaped:
            # The worker's heartbeats stopped reaching the database: the reaper retries the step.
            later = timezone.now() + timedelta(seconds=120)
            reaped.extend(step_runs_reap_crashed(timeout=60, crash_budget=3, now=later))
            assert reaped == [step_run_id]
        return real_reserve(step_run_id=step_run_id, attempt=attempt, outputs=outputs)

    monkeypatch.setattr(executor, "artifact_versions_reserve", reaped_first)
    run = pipeline_run_create(spec=large_output.compile(), user=owner)
    broker.drain()

    run.refresh_from_db()
    step_run = run.steps.get()
    assert (run.status, step_run.status) == ("completed", StepStatus.COMPLETED)
    assert (step_run.attempt, step_run.crash_count, step_run.failure_count) == (2, 1, 0)
    assert HOOK_CALLS == []
    store = artifact_store()
    first = store.uri_for(run_id=run.id, step_run_id=step_run.id, attempt=1, output_index=0)
    assert not Path(store.resolve(first)).exists()
    assert PipelineRun.objects.get(id=run.id).status == "completed"
