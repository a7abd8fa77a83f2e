"""The run and step state machine, driven in-process without a broker.

Publishing is intercepted (it crosses into the broker), so each test decides when a
delivered step runs and can deliver one twice.
"""

from __future__ import annotations

import pytest

from pipelines.engine.executor import step_run_execute
from pipelines.models import ArtifactVersion, PipelineRun, RunStatus, StepRun, StepStatus
from pipelines.sdk.spec import SpecError
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import StepTimings, step_run_claim, step_run_complete, step_run_fail
from tests.integration import sample_pipelines as sample

pytestmark = pytest.mark.django_db(transaction=True)


def _statuses(run: PipelineRun) -> dict[str, str]:
    return dict(run.steps.values_list("name", "status"))


NO_TIMINGS = StepTimings(None, None)


def test_creating_a_run_queues_only_the_steps_without_upstream(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)

    assert _statuses(run) == {"load": "queued", "total": "pending"}
    assert broker.sent == [run.steps.get(name="load").id]
    assert run.status == RunStatus.INITIALIZING
    assert run.triggered_by == owner
    assert run.parameters == {"scale": 2}


def test_an_invalid_spec_stores_nothing(owner, broker):
    spec = sample.numbers_pipeline.compile(scale=2)
    spec["steps"][0]["after"] = ["total"]  # a cycle

    with pytest.raises(SpecError, match="cycle"):
        pipeline_run_create(spec=spec, user=owner)

    assert PipelineRun.objects.count() == 0
    assert broker.sent == []


def test_run_names_stay_unique_when_the_template_repeats(owner, broker):
    spec = sample.numbers_pipeline.compile(scale=2)
    spec["run_name_template"] = "nightly-{date}"

    names = [pipeline_run_create(spec=spec, user=owner).name for _ in range(3)]

    assert len(set(names)) == 3
    assert names[1] == f"{names[0]}_2"


def test_a_run_completes_step_by_step_and_links_artifacts(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=3), user=owner)
    broker.drain()

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.started_at is not None
    assert run.finished_at is not None
    total = run.steps.get(name="total")
    produced = total.output_links.get().artifact_version
    assert produced.artifact.name == "numbers_pipeline::total::output"
    assert total.input_links.get().artifact_version.artifact.name == "numbers"
    assert produced.checksum
    assert produced.size > 0
    assert total.queued_at <= total.started_at
    assert total.started_at <= total.user_code_started_at
    assert total.user_code_started_at <= total.user_code_finished_at
    assert total.user_code_finished_at <= total.finished_at


def test_artifact_versions_are_numbered_per_artifact_name(owner, broker):
    for _ in range(3):
        pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
        broker.drain()

    versions = list(ArtifactVersion.objects.filter(artifact__name="numbers").order_by("number"))
    assert [v.version for v in versions] == ["1", "2", "3"]
    assert len({v.uri for v in versions}) == 3


def test_a_duplicate_delivery_of_a_finished_step_changes_nothing(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load_id = broker.sent[0]
    broker.drain()
    before = StepRun.objects.get(id=load_id)

    step_run_execute(step_run_id=load_id)

    after = StepRun.objects.get(id=load_id)
    assert (after.status, after.attempt, after.finished_at) == (before.status, before.attempt, before.finished_at)
    assert ArtifactVersion.objects.filter(producer_step_run_id=load_id).count() == 1
    assert broker.sent == []
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def test_only_one_of_two_claims_wins(owner, broker):
    pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load_id = broker.sent[0]

    assert step_run_claim(step_run_id=load_id, worker="a") == 1
    assert step_run_claim(step_run_id=load_id, worker="b") is None


def test_a_superseded_attempt_cannot_record_its_outcome(owner, broker):
    pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load_id = broker.sent[0]
    attempt = step_run_claim(step_run_id=load_id, worker="a")

    assert not step_run_complete(
        step_run_id=load_id, attempt=attempt + 1, inputs={}, outputs=[], timings=NO_TIMINGS, logs=""
    )
    assert not step_run_fail(
        step_run_id=load_id, attempt=attempt + 1, error="late", inputs={}, timings=NO_TIMINGS, logs=""
    )
    assert StepRun.objects.get(id=load_id).status == StepStatus.RUNNING


def test_a_failure_skips_everything_downstream_and_fails_the_run_once_the_rest_ends(owner, broker):
    run = pipeline_run_create(spec=sample.failing_pipeline.compile(message="no"), user=owner)
    broker.drain()

    run.refresh_from_db()
    assert _statuses(run) == {
        "load": "completed",
        "explode": "failed",
        "total": "skipped",
        "load_2": "completed",
        "count": "completed",
    }
    assert run.status == RunStatus.FAILED
    assert "ValueError: no" in run.steps.get(name="explode").error


def test_a_join_step_is_queued_once_both_parents_complete(owner, broker, settings):
    settings.PIPELINES = {**settings.PIPELINES, "RUN_NEXT_STEP_INLINE": False}
    run = pipeline_run_create(spec=sample.parallel_pipeline.compile(seconds=0), user=owner)
    first, second = broker.sent
    broker.sent.clear()

    step_run_execute(step_run_id=first)
    assert broker.sent == []
    assert run.steps.get(name="add_up").status == StepStatus.PENDING
    step_run_execute(step_run_id=second)

    assert broker.sent == [run.steps.get(name="add_up").id]


def test_every_change_bumps_the_run_revision(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    revisions = [run.revision]
    while broker.sent:
        step_run_execute(step_run_id=broker.sent.pop(0))
        run.refresh_from_db()
        revisions.append(run.revision)

    assert revisions == sorted(revisions)
    assert len(set(revisions)) == len(revisions)


def test_a_crash_while_saving_removes_the_attempts_files(owner, broker, monkeypatch, settings):
    from pathlib import Path

    pipeline_run_create(spec=sample.unsaveable_pipeline.compile(), user=owner)
    step_id = broker.sent[0]
    broker.drain()

    step = StepRun.objects.get(id=step_id)
    assert step.status == StepStatus.FAILED
    attempt_dir = (
        Path(settings.PIPELINES["ARTIFACT_STORE"]) / "runs" / str(step.pipeline_run_id) / "steps" / str(step_id)
    )
    assert not any(path.is_file() for path in attempt_dir.rglob("*"))


def test_a_chain_runs_within_one_delivery_without_publishing_its_successors(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)
    load_id = broker.sent.pop()

    step_run_execute(step_run_id=load_id)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert broker.sent == []
    assert run.steps.get(name="total").output_links.get().artifact_version.size > 0


def test_of_several_steps_made_ready_one_runs_inline_and_the_others_go_to_the_broker(owner, broker):
    run = pipeline_run_create(spec=sample.split_pipeline.compile(values=[1, 2, 3]), user=owner)
    marker_id = broker.sent.pop()

    step_run_execute(step_run_id=marker_id)  # marker, then split inline, then one count inline

    counts = {step.id: step.status for step in run.steps.filter(name__in=["count", "count_2"])}
    assert len(broker.sent) == 1
    assert broker.sent[0] in counts
    assert sorted(counts.values()) == ["completed", "queued"]
    broker.drain()
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def test_a_step_kept_for_inline_running_is_sent_again_if_its_worker_dies_first(owner, broker):
    from datetime import timedelta

    from django.utils import timezone

    from pipelines.services.steps import step_runs_redispatch_lost

    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)
    load_id = broker.sent.pop()
    attempt = step_run_claim(step_run_id=load_id, worker="a")
    completion = step_run_complete(
        step_run_id=load_id,
        attempt=attempt,
        inputs={},
        outputs=[],
        timings=StepTimings(None, None),
        logs="",
        keep_next=True,
    )
    total = run.steps.get(name="total")
    assert completion.next_step_run_id == total.id
    assert broker.sent == []
    # The worker dies here, before claiming it.

    assert step_runs_redispatch_lost(grace=30, now=timezone.now() + timedelta(seconds=31)) == [total.id]
    assert broker.sent == [total.id]


@pytest.mark.parametrize(
    ("how", "named"),
    [
        ("sys.exit(3)", "SystemExit: 3"),
        ("SystemExit", "SystemExit"),
        ("KeyboardInterrupt", "KeyboardInterrupt: interrupted by the step"),
        ("GeneratorExit", "GeneratorExit: closed by the step"),
    ],
)
def test_a_step_that_exits_fails_once_with_the_exception_named(owner, broker, how, named):
    run = pipeline_run_create(spec=sample.exiting_pipeline.compile(how=how), user=owner)

    broker.drain()  # the BaseException does not escape the executor

    step = run.steps.get(name="exits")
    assert step.status == StepStatus.FAILED
    assert step.attempt == 1
    assert named in step.error
    assert f"leaving by {how}" in step.logs
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.FAILED


def test_a_worker_told_to_shut_down_mid_step_stops_and_leaves_the_step_running(owner, broker):
    # Celery raises WorkerShutdown in a solo worker's only thread: it must reach
    # Celery, and the attempt is the reaper's to retry, not a failure of the step.
    from celery.exceptions import WorkerShutdown

    run = pipeline_run_create(spec=sample.exiting_pipeline.compile(how="WorkerShutdown"), user=owner)

    with pytest.raises(WorkerShutdown):
        broker.drain()

    assert run.steps.get(name="exits").status == StepStatus.RUNNING
