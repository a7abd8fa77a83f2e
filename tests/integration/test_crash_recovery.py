"""Fault injection with real worker processes: kill -9 and see the run recover."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from pipelines.models import ArtifactVersion, ArtifactVersionStatus, AttemptOutcome, StepRun, StepStatus
from tests.integration import sample_pipelines as sample
from tests.integration.conftest import kill_worker, start_worker, stop_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out waiting for {what}.")
        time.sleep(0.05)


def test_a_run_survives_its_worker_being_killed_mid_step(running_worker, settings, tmp_path, monkeypatch):
    # A queue of its own, so only the workers this test starts and kills run the steps.
    settings.PIPELINES = {**settings.PIPELINES, "QUEUE": "crash-test"}
    monkeypatch.setenv(sample.CALLS_FILE_ENV, str(tmp_path / "calls.txt"))
    first = start_worker(tmp_path / "first.log", queue="crash-test", concurrency=2)
    try:
        run = sample.crash_pipeline.with_options(wait=False)(seconds=60)
        _wait_for(
            lambda: (tmp_path / "calls.txt").exists() and "sleepy:1" in (tmp_path / "calls.txt").read_text(),
            timeout=30,
            what="the first attempt to start",
        )
        kill_worker(first)
        killed_at = time.monotonic()
        second = start_worker(tmp_path / "second.log", queue="crash-test", concurrency=2)
        try:
            knobs = django_settings.PIPELINES
            budget = knobs["STEP_HEARTBEAT_TIMEOUT"] + knobs["REAPER_INTERVAL"]
            run.wait(timeout=budget + 30)
            recovered_in = time.monotonic() - killed_at
        finally:
            stop_worker(second)
    finally:
        kill_worker(first)

    assert run.status == "completed"
    assert run.steps["total"].output.load() == 6 * 2
    step = StepRun.objects.get(id=run.steps["sleepy_first_attempt"].id)
    assert [a.outcome for a in step.attempts.all()] == [AttemptOutcome.CRASHED, AttemptOutcome.COMPLETED]
    assert step.crash_count == 1
    # Recovery took the heartbeat timeout plus a reaper pass, plus starting a worker.
    assert recovered_in < budget + 20
    # Exactly one ready version per output, and nothing left of the killed attempt.
    _wait_for(
        lambda: not ArtifactVersion.objects.filter(status=ArtifactVersionStatus.PENDING).exists(),
        timeout=10,
        what="the reaper to clean up the killed attempt's pending version",
    )
    for step_run in StepRun.objects.filter(pipeline_run_id=run.id):
        outputs = step_run.spec["outputs"]
        ready = ArtifactVersion.objects.filter(producer_step_run=step_run, status=ArtifactVersionStatus.READY)
        assert ready.count() == len(outputs)
    killed_attempt = (
        Path(django_settings.PIPELINES["ARTIFACT_STORE"]) / "runs" / str(run.id) / "steps" / str(step.id) / "attempt-1"
    )
    assert not any(path.is_file() for path in killed_attempt.rglob("*"))


def test_a_step_that_kills_its_worker_every_time_ends_failed_with_worker_lost(running_worker, settings, tmp_path):
    knobs = settings.PIPELINES
    # Its own queue and worker: a pool whose processes were killed is left alone
    # afterwards, so the shared worker stays as the other tests expect it.
    settings.PIPELINES = {**settings.PIPELINES, "QUEUE": "doomed"}
    worker = start_worker(tmp_path / "doomed.log", queue="doomed", concurrency=1)
    started = time.monotonic()
    try:
        run = sample.doomed_pipeline.with_options(wait=False)()
        run.wait(
            raise_on_failure=False, timeout=(knobs["CRASH_BUDGET"] + 1) * (knobs["STEP_HEARTBEAT_TIMEOUT"] + 5) + 30
        )
    finally:
        stop_worker(worker)

    assert run.status == "failed"
    step = StepRun.objects.get(id=run.steps["kills_its_worker"].id)
    assert step.status == StepStatus.FAILED
    assert step.error.startswith("worker lost")
    assert step.attempts.count() == knobs["CRASH_BUDGET"] + 1
    assert all(a.outcome == AttemptOutcome.CRASHED for a in step.attempts.all())
    assert time.monotonic() - started < 60
