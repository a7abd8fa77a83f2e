"""A step that calls sys.exit() or raises KeyboardInterrupt (BaseExceptions, not
Exceptions) fails once, like any other error, with the exception named; the pool
process that ran it lives on. Before, the exception killed the pool process: the
step ran three times over minutes and failed as "worker lost"."""

from __future__ import annotations

import pytest

from pipelines.models import AttemptOutcome, StepRun, StepStatus
from tests.integration import sample_pipelines as sample
from tests.integration.conftest import start_worker, stop_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CASES = [
    ("sys.exit(3)", "SystemExit: 3"),
    ("SystemExit", "SystemExit"),
    ("KeyboardInterrupt", "KeyboardInterrupt: interrupted by the step"),
    ("GeneratorExit", "GeneratorExit: closed by the step"),
]


@pytest.fixture
def one_process_worker(running_worker, settings, tmp_path, monkeypatch):
    """A worker of its own with a single pool process, so a surviving process runs the next step."""
    settings.PIPELINES = {**settings.PIPELINES, "QUEUE": "exits"}
    monkeypatch.setenv(sample.CALLS_FILE_ENV, str(tmp_path / "calls.txt"))
    worker = start_worker(tmp_path / "exits.log", queue="exits", concurrency=1)
    yield tmp_path / "calls.txt"
    stop_worker(worker)


@pytest.mark.parametrize(("how", "named"), CASES)
def test_a_step_that_exits_fails_once_with_the_exception_named_and_its_process_lives_on(one_process_worker, how, named):
    run = sample.exiting_pipeline.with_options(wait=False)(how=how)
    # Well under the reaper's crash path (heartbeat timeout, then two more attempts).
    run.wait(raise_on_failure=False, timeout=30)

    assert run.status == "failed"
    step = StepRun.objects.get(id=run.steps["exits"].id)
    assert step.status == StepStatus.FAILED
    assert step.crash_count == 0
    assert [(a.outcome, a.number) for a in step.attempts.all()] == [(AttemptOutcome.FAILED, 1)]
    assert named in step.error
    assert "worker lost" not in step.error
    assert f"leaving by {how}" in step.logs
    calls = one_process_worker.read_text().splitlines()
    assert len(calls) == 1  # the user's code ran once
    exited_in = int(calls[0].rsplit(":", 1)[1])

    after = sample.pool_pid_pipeline.with_options(wait=False)()
    after.wait(timeout=30)
    assert after.steps["pool_pid"].output.load() == exited_in
