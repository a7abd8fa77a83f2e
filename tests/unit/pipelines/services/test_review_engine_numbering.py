"""Review of the step end's output bookkeeping (issue 12): a small output's version is
created ready by the end, numbered under its artifact's row lock (`_lock_artifact`,
then MAX(number) + 1). Two steps of two runs ending at once must never get the same
number, nor one that skips, whichever path (created ready, or a reserved pending
version made ready) each takes.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from pipelines.models import ArtifactVersion, ArtifactVersionStatus, StepRun
from pipelines.services import steps as step_services
from pipelines.services.artifacts import PendingOutput, SavedOutput, artifact_versions_reserve
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import StepTimings, step_run_claim, step_run_complete
from tests.integration import sample_pipelines as sample

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACT = "review_numbered"


def _claimed_load(owner) -> tuple[StepRun, int]:
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    return load, step_run_claim(step_run_id=load.id, worker="w")


def _output(step: StepRun, attempt: int, version_id: int | None) -> SavedOutput:
    return SavedOutput(
        name="output",
        artifact_version_id=version_id,
        artifact_name=ARTIFACT,
        uri=f"file:///review/{step.id}/{attempt}",
        materializer="m:M",
        data_type="builtins.int",
        checksum="c" * 64,
        size=1,
        inline_files={"data.json": "1"},
    )


def _complete(step: StepRun, attempt: int, output: SavedOutput):
    return step_run_complete(
        step_run_id=step.id,
        run_id=step.pipeline_run_id,
        attempt=attempt,
        inputs={},
        outputs=[output],
        timings=StepTimings(None, None),
        logs="",
    )


@pytest.mark.parametrize("second_reserved", [False, True])
def test_two_ends_at_once_number_one_artifact_in_turn(owner, broker, monkeypatch, second_reserved):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite's IMMEDIATE transactions serialise every writer")
    first, first_attempt = _claimed_load(owner)
    second, second_attempt = _claimed_load(owner)
    reserved = None
    if second_reserved:
        reserved = artifact_versions_reserve(
            step_run_id=second.id,
            attempt=second_attempt,
            outputs=[PendingOutput("output", ARTIFACT, f"file:///review/{second.id}/{second_attempt}")],
        )["output"]

    # The first end stops after numbering its version, its artifact's row still locked.
    holding, release = threading.Event(), threading.Event()
    make_ready = step_services.artifact_versions_make_ready

    def pause(*, step_run_id, **kwargs):
        numbered = make_ready(step_run_id=step_run_id, **kwargs)
        if step_run_id == first.id:
            holding.set()
            assert release.wait(10)
        return numbered

    monkeypatch.setattr(step_services, "artifact_versions_make_ready", pause)
    results: dict[str, object] = {}

    def end(key, step, attempt, version_id):
        try:
            results[key] = bool(_complete(step, attempt, _output(step, attempt, version_id)))
        except Exception as exc:  # reported below
            results[key] = exc
        finally:
            connections.close_all()

    one = threading.Thread(target=end, args=("first", first, first_attempt, None))
    one.start()
    assert holding.wait(10)
    two = threading.Thread(target=end, args=("second", second, second_attempt, reserved))
    two.start()
    two.join(0.5)
    assert two.is_alive()  # waiting for the artifact's row
    release.set()
    one.join(10)
    two.join(10)

    assert results == {"first": True, "second": True}
    ready = ArtifactVersion.objects.filter(artifact__name=ARTIFACT, status=ArtifactVersionStatus.READY)
    numbered = dict(ready.values_list("producer_step_run_id", "number"))
    assert numbered == {first.id: 1, second.id: 2}
    assert sorted(ready.values_list("version", flat=True)) == ["1", "2"]
