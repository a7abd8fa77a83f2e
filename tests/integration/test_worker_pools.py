"""Worker pools, timeouts and code that matches, on real worker processes.

- A step with `queue="gpu"` waits for a worker started with `-Q gpu`: with none, the
  waiting client says so within seconds, naming the queue; once one starts, it runs
  the step and the run completes.
- A step past its 2 s timeout fails with an error that says so, a retried one is
  retried, and the worker runs the next run; a step that swallows the timeout is
  failed after the grace and its pool process replaced, still not "worker lost".
- A spec whose code hash differs from the worker's module fails, naming both hashes.
"""

from __future__ import annotations

import time

import pytest

from pipelines.client import Client
from pipelines.engine.time_limit import HARD_STOP_GRACE
from pipelines.models import AttemptOutcome, StepRun, StepStatus, WorkerHeartbeat
from pipelines.sdk.exceptions import NoWorkerError
from tests.integration import worker_pipelines as wp
from tests.integration.conftest import start_worker, stop_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _step(run, name: str) -> StepRun:
    return StepRun.objects.get(pipeline_run_id=run.id, name=name)


def test_a_step_of_a_queue_nobody_consumes_is_named_then_run_by_a_worker_started_with_q(running_worker, tmp_path):
    run = wp.pool_pipeline.with_options(wait=False)()
    started = time.monotonic()

    with pytest.raises(NoWorkerError, match=r"queue 'gpu'.*celery -A config worker -Q gpu"):
        run.wait(timeout=60)

    assert time.monotonic() - started < 20
    assert _step(run, "on_default").status == StepStatus.COMPLETED
    assert _step(run, "on_gpu").status == StepStatus.QUEUED

    gpu_worker = start_worker(tmp_path / "gpu.log", concurrency=1, extra_args=("-Q", wp.GPU_QUEUE))
    try:
        run.wait(timeout=60)
        assert run.status == "completed"
        on_default, on_gpu = _step(run, "on_default"), _step(run, "on_gpu")
        assert (on_default.queue, on_gpu.queue) == ("pipelines", "gpu")
        assert on_gpu.worker
        assert on_gpu.worker != on_default.worker
        assert run.steps["on_gpu"].queue == "gpu"  # through the API, as the SDK sees it
        assert run.steps["on_gpu"].output.load() == run.steps["on_default"].output.load() + 1
        assert ["gpu"] in list(WorkerHeartbeat.objects.values_list("queues", flat=True))
    finally:
        stop_worker(gpu_worker)


@pytest.fixture
def one_process_worker(running_worker, settings, tmp_path, monkeypatch):
    """A worker of its own with one pool process, so the next run shows that process
    (or its replacement) lives on; the attempts file counts runs of user code."""
    settings.PIPELINES = {**settings.PIPELINES, "QUEUE": "timeouts"}
    attempts = tmp_path / "attempts.txt"
    monkeypatch.setenv(wp.ATTEMPTS_FILE_ENV, str(attempts))
    worker = start_worker(tmp_path / "timeouts.log", queue="timeouts", concurrency=1)
    yield lambda: attempts.read_text().split() if attempts.exists() else []
    stop_worker(worker)


def test_a_step_past_its_timeout_fails_saying_so_is_retried_and_the_worker_runs_on(one_process_worker):
    attempts = one_process_worker
    started = time.monotonic()
    run = wp.sleepy_pipeline.with_options(wait=False)(seconds=30)
    run.wait(raise_on_failure=False, timeout=30)

    assert time.monotonic() - started < 15
    assert run.status == "failed"
    step = _step(run, "sleepy")
    assert "step 'sleepy' ran longer than its timeout of 2 s" in step.error
    assert "worker lost" not in step.error
    assert (step.failure_count, step.crash_count) == (1, 0)
    assert len(attempts()) == 1

    retried = wp.sleepy_retried_pipeline.with_options(wait=False)(seconds=30)
    retried.wait(raise_on_failure=False, timeout=40)

    step = _step(retried, "sleepy_retried")
    assert step.status == StepStatus.FAILED
    assert [(a.outcome, "timeout of 2 s" in a.error) for a in step.attempts.all()] == [
        (AttemptOutcome.FAILED, True),
        (AttemptOutcome.FAILED, True),
    ]
    assert len(attempts()) == 3

    after = wp.quick_pipeline.with_options(wait=False)()
    after.wait(timeout=30)
    # The same pool process: the timeout ended the step, not the process.
    assert after.steps["quick"].output.load() == int(attempts()[0]) == int(attempts()[-1])


def test_a_step_that_swallows_its_timeout_is_failed_and_its_process_replaced(one_process_worker):
    attempts = one_process_worker
    started = time.monotonic()
    run = wp.stubborn_pipeline.with_options(wait=False)(seconds=120)
    run.wait(raise_on_failure=False, timeout=60)

    # The timeout, the grace, and a little: well before the heartbeat timeout and the
    # reaper's "worker lost".
    assert time.monotonic() - started < 1 + HARD_STOP_GRACE + 10
    step = _step(run, "stubborn")
    assert step.status == StepStatus.FAILED
    assert "step 'stubborn' ran longer than its timeout of 1 s and did not stop within" in step.error
    assert "worker lost" not in step.error
    assert step.crash_count == 0
    assert len(attempts()) == 1

    after = wp.quick_pipeline.with_options(wait=False)()
    after.wait(timeout=30)
    assert after.status == "completed"
    assert after.steps["quick"].output.load() != int(attempts()[0])  # a new pool process
    assert len(attempts()) == 1  # the killed step was not run again


def test_a_worker_whose_code_differs_from_the_submitted_code_fails_the_step_naming_both_hashes(running_worker):
    spec = wp.counted_pipeline.compile()
    submitted = "f" * 64
    spec["steps"][0]["code_hash"] = submitted

    run = Client().create_run(spec)
    run.wait(raise_on_failure=False, timeout=30)

    assert run.status == "failed"
    error = run.steps["counted"].error
    assert f"Step 'counted' was submitted with code hash {submitted}" in error
    assert f"has code hash {wp.counted.code_hash}" in error
    assert "Deploy the code you submitted from to every worker" in error
