"""Code that matches: a worker whose copy of a step's code differs from the code the
run was submitted with (the spec's code hash) fails the step, naming the step, both
hashes and how to deploy, instead of running its own copy under the submitted hash.
PIPELINES_ALLOW_CODE_MISMATCH relaxes that to a warning in the step's log."""

from __future__ import annotations

import importlib
import os
import sys
import time

import pytest

from pipelines.engine.executor import step_run_execute
from pipelines.models import AttemptOutcome, StepRun, StepStatus
from pipelines.services.runs import pipeline_run_create
from tests.integration import worker_pipelines as wp

pytestmark = pytest.mark.django_db(transaction=True)
SUBMITTED = "0" * 64


@pytest.fixture
def attempts(tmp_path, monkeypatch):
    path = tmp_path / "attempts.txt"
    monkeypatch.setenv(wp.ATTEMPTS_FILE_ENV, str(path))
    return lambda: len(path.read_text().splitlines()) if path.exists() else 0


def _run_with_hash(owner, broker, code_hash: str) -> StepRun:
    spec = wp.counted_pipeline.compile()
    spec["steps"][0]["code_hash"] = code_hash
    run = pipeline_run_create(spec=spec, user=owner)
    step_run_execute(step_run_id=broker.sent.pop())
    return StepRun.objects.get(pipeline_run=run)


def test_a_step_whose_code_differs_on_the_worker_fails_naming_step_hashes_and_the_fix(owner, broker, attempts):
    step = _run_with_hash(owner, broker, SUBMITTED)

    assert step.status == StepStatus.FAILED
    assert attempts() == 0  # the worker's copy never ran
    worker_hash = wp.counted.code_hash
    assert f"Step 'counted' was submitted with code hash {SUBMITTED}" in step.error
    assert f"has code hash {worker_hash}" in step.error
    assert "tests.integration.worker_pipelines:counted" in step.error
    assert "Deploy the code you submitted from to every worker that consumes the queue 'pipelines'" in step.error
    assert "PIPELINES_ALLOW_CODE_MISMATCH=true" in step.error
    assert [a.outcome for a in step.attempts.all()] == [AttemptOutcome.FAILED]
    assert step.pipeline_run.status == "failed"


def test_the_setting_runs_the_workers_copy_with_a_warning_in_the_steps_log(owner, broker, attempts, settings):
    settings.PIPELINES = {**settings.PIPELINES, "ALLOW_CODE_MISMATCH": True}

    step = _run_with_hash(owner, broker, SUBMITTED)

    assert step.status == StepStatus.COMPLETED
    assert attempts() == 1
    assert "WARNING: Step 'counted' was submitted with code hash " + SUBMITTED in step.logs
    assert wp.counted.code_hash in step.logs
    assert "PIPELINES_ALLOW_CODE_MISMATCH is on" in step.logs


def test_the_code_it_was_submitted_with_runs_without_a_word(owner, broker, attempts):
    step = _run_with_hash(owner, broker, wp.counted.code_hash)

    assert step.status == StepStatus.COMPLETED
    assert attempts() == 1
    assert "code hash" not in step.logs


def test_a_spec_without_a_code_hash_is_not_checked(owner, broker, attempts):
    # A spec written by hand (or by another tool) may leave the hash out.
    step = _run_with_hash(owner, broker, "")

    assert step.status == StepStatus.COMPLETED
    assert attempts() == 1


def test_a_mismatch_is_retried_per_the_steps_policy(owner, broker, attempts):
    # Half way through a deploy, another worker may already have the code.
    spec = wp.counted_pipeline.compile()
    spec["steps"][0]["code_hash"] = SUBMITTED
    spec["steps"][0]["retry"] = {"max_retries": 1, "delay": 60, "backoff": 1}
    run = pipeline_run_create(spec=spec, user=owner)

    step_run_execute(step_run_id=broker.sent.pop())

    step = StepRun.objects.get(pipeline_run=run)
    assert step.status == StepStatus.RETRYING
    assert attempts() == 0


MODULE = """
from pipelines import pipeline, step


@step
def edited() -> int:
    return {value}


@pipeline(enable_cache=False)
def edited_pipeline():
    edited()
"""


def test_a_module_edited_after_submission_fails_instead_of_running_the_new_code(owner, broker, tmp_path, monkeypatch):
    # What happens when a deploy lands between submission and execution: the worker
    # re-imports the changed module and must not run it under the submitted hash.
    name = f"edited_{tmp_path.name.replace('-', '_')}"
    path = tmp_path / f"{name}.py"
    path.write_text(MODULE.format(value=1))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module(name)
        spec = module.edited_pipeline.compile()
        run = pipeline_run_create(spec=spec, user=owner)
        path.write_text(MODULE.format(value=22))
        os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # a later mtime, whatever the clock

        step_run_execute(step_run_id=broker.sent.pop())
    finally:
        sys.modules.pop(name, None)

    step = StepRun.objects.get(pipeline_run=run)
    assert step.status == StepStatus.FAILED
    assert f"was submitted with code hash {spec['steps'][0]['code_hash']}" in step.error
    assert not step.output_links.exists()
