"""Review of the step end (issue 12): `_after_step_success` is handed the pending steps
downstream of the ended one (`waiting`), read before the run's row is locked, since
this session before the end's own commit (and its flush) even. By the time the lock
is held they may have ended without this end: a failed branch's end skipped a join,
or a stop stopped them, while this step was still running as that end saw it (so it
left the run to this end to finish). The run must end then, not wait for
`pipeline_runs_advance_stalled`.

The interleaving is replayed in one thread: `waiting` is read first, the other end
(or the stop) commits, then this end locks the run with what it read.
"""

from __future__ import annotations

import pytest

from pipelines.models import PipelineRun, RunStatus, StepStatus
from pipelines.services import steps as step_services
from pipelines.services.runs import pipeline_run_create, pipeline_run_stop
from pipelines.services.steps import StepTimings, step_run_claim, step_run_complete, step_run_fail
from tests.integration import sample_pipelines as sample
from tests.integration import wide_pipelines

pytestmark = pytest.mark.django_db(transaction=True)

NO_TIMINGS = StepTimings(None, None)


def _complete_with_stale_waiting(monkeypatch, step, attempt, stale):
    # The end hands on `stale` as what it read downstream (on PostgreSQL that read
    # rides on the end's own statement; elsewhere `_pending_downstream` follows it).
    end, handed = step_services._end_and_read_downstream, []

    def end_reading_stale(**kwargs):
        handed.append(stale)
        return end(**kwargs)[0], stale

    monkeypatch.setattr(step_services, "_end_and_read_downstream", end_reading_stale)
    completion = step_run_complete(
        step_run_id=step.id, attempt=attempt, inputs={}, outputs=[], timings=NO_TIMINGS, logs="", keep_next=True
    )
    assert handed == [stale]
    return completion


def test_a_branch_ending_after_a_failed_branch_skipped_the_join_it_read_as_pending_ends_the_run(
    owner, broker, monkeypatch
):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=2), user=owner)
    first, second = run.steps.get(name="branch_0000"), run.steps.get(name="branch_0001")
    first_attempt = step_run_claim(step_run_id=first.id, worker="w")
    second_attempt = step_run_claim(step_run_id=second.id, worker="w")
    stale = step_services._pending_downstream(run.id, second.name)
    assert [row.name for row in stale] == ["join"]

    # The other branch fails meanwhile: it sees `second` running, skips the join, and
    # leaves the run to `second`'s end.
    assert step_run_fail(
        step_run_id=first.id,
        attempt=first_attempt,
        error="boom",
        inputs={},
        timings=NO_TIMINGS,
        logs="",
        retryable=False,
    )
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.RUNNING
    assert run.steps.get(name="join").status == StepStatus.SKIPPED

    assert _complete_with_stale_waiting(monkeypatch, second, second_attempt, stale)

    assert PipelineRun.objects.get(id=run.id).status == RunStatus.FAILED


def test_a_chain_link_ending_after_a_stop_stopped_its_next_step_ends_the_run(owner, broker, monkeypatch):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    stale = step_services._pending_downstream(run.id, load.name)
    assert [row.name for row in stale] == ["total"]
    assert stale[0].enable_cache is False  # the fast path, not `_after_step_end`'s

    # The stop sees `load` running: the run stays stopping until load's end.
    assert pipeline_run_stop(run=run).status == RunStatus.STOPPING
    assert run.steps.get(name="total").status == StepStatus.STOPPED

    completion = _complete_with_stale_waiting(monkeypatch, load, attempt, stale)

    assert completion
    assert completion.next_step_run_id is None
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.STOPPED
