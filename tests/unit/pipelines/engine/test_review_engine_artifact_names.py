"""Review of the step end (issue 12): an unnamed output's artifact is named
`<pipeline>::<step>::output`, which can be longer than an artifact name may be (200)
although the pipeline's and the step's names are each valid. The outputs' reservation
before the step's code used to fail the step on it (PostgreSQL refused the artifact's
row). A small output is no longer reserved: the refusal came at the step's end, which
a worker does not catch, so the step was left running for the reaper to retry as a
crash until its crash budget said "worker lost". The step must fail with the reason,
before its code runs, and on SQLite (which does not check lengths) the same way.
"""

from __future__ import annotations

import pytest

from pipelines import pipeline, step
from pipelines.models import Artifact, RunStatus, StepStatus
from pipelines.services.runs import pipeline_run_create

pytestmark = pytest.mark.django_db(transaction=True)

CALLS: list[str] = []


@step(enable_cache=False)
def small_value() -> int:
    CALLS.append("ran")
    return 1


@pipeline(enable_cache=False, name="p" * 150)
def long_named():
    small_value(id="s" * 60)


def test_an_output_whose_artifact_name_would_be_too_long_fails_its_step_with_the_reason(owner, broker):
    CALLS.clear()
    run = pipeline_run_create(spec=long_named.compile(), user=owner)
    broker.drain()

    run.refresh_from_db()
    step_run = run.steps.get()
    assert (run.status, step_run.status) == (RunStatus.FAILED, StepStatus.FAILED)
    assert "artifact names have at most 200 characters" in step_run.error
    assert step_run.crash_count == 0
    assert CALLS == []  # refused before the step's code ran
    assert not Artifact.objects.exists()
