"""Every status field has one table of legal moves, and every write goes through it.

Each table is tried exhaustively: every (from, to) pair, first against the check,
then as a real conditional update on a row in the `from` status. The services that
change run status, model stages and artifact versions are then driven through
their edges, and a scan of the code proves no other write sets a status.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from django.utils import timezone

from pipelines.models import (
    Artifact,
    ArtifactVersion,
    ArtifactVersionStatus,
    MLModel,
    ModelStage,
    ModelVersion,
    Pipeline,
    PipelineRun,
    RunStatus,
    StepRun,
    StepStatus,
)
from pipelines.services.artifacts import ArtifactVersionNotPending, artifact_versions_make_ready
from pipelines.services.model_versions import ModelStageTaken, model_version_set_stage
from pipelines.services.run_status import (
    RunChangedUnderLock,
    pipeline_run_finish_if_done,
    pipeline_run_mark_running,
    pipeline_run_mark_stopping,
)
from pipelines.services.transitions import (
    ARTIFACT_VERSIONS,
    MODEL_STAGES,
    RUNS,
    STEPS,
    IllegalTransition,
    RowSelect,
    StateMachine,
)

REPO = Path(__file__).resolve().parents[4]
MACHINES = {"step": STEPS, "run": RUNS, "model stage": MODEL_STAGES, "artifact version": ARTIFACT_VERSIONS}
CHOICES = {
    "step": StepStatus.values,
    "run": RunStatus.values,
    "model stage": ModelStage.values,
    "artifact version": ArtifactVersionStatus.values,
}
ALL_PAIRS = [
    (kind, source, target) for kind, values in CHOICES.items() for source, target in itertools.product(values, values)
]


# --- the tables themselves ---------------------------------------------------------------
@pytest.mark.parametrize("kind", MACHINES)
def test_every_table_lists_exactly_its_field_s_choices(kind):
    machine = MACHINES[kind]
    assert set(machine.moves) == set(CHOICES[kind])
    assert all(targets <= set(CHOICES[kind]) for targets in machine.moves.values())
    assert all(source not in targets for source, targets in machine.moves.items())  # staying is not a move


@pytest.mark.parametrize(("kind", "source", "target"), ALL_PAIRS)
def test_the_check_allows_a_move_exactly_when_the_table_lists_it(kind, source, target):
    machine = MACHINES[kind]
    if target in machine.moves[source]:
        machine.check(source, target)
    else:
        with pytest.raises(IllegalTransition, match=f"cannot go from {source} to {target}"):
            machine.check(source, target)


def test_finished_runs_and_ready_versions_have_no_way_out():
    for status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.STOPPED):
        assert RUNS.moves[status] == frozenset()
    assert ARTIFACT_VERSIONS.moves[ArtifactVersionStatus.READY] == frozenset()


def test_model_stages_move_as_in_zenml_from_any_stage_to_any_other():
    for source, target in itertools.permutations(ModelStage.values, 2):
        assert MODEL_STAGES.allows(source, target)


# --- every pair as a real conditional update -----------------------------------------------
def _run(status: str = RunStatus.INITIALIZING) -> PipelineRun:
    pipeline, _ = Pipeline.objects.get_or_create(name="transitions")
    return PipelineRun.objects.create(
        pipeline=pipeline, name=f"run-{PipelineRun.objects.count()}", spec={}, status=status
    )


def _row(kind: str, status: str) -> int:
    if kind == "step":
        return StepRun.objects.create(pipeline_run=_run(), name="s", source="m:f", spec={}, status=status).id
    if kind == "run":
        return _run(status).id
    if kind == "model stage":
        model, _ = MLModel.objects.get_or_create(name="transitions")
        return ModelVersion.objects.create(model=model, number=1, name="1", stage=status).id
    artifact, _ = Artifact.objects.get_or_create(name="transitions")
    ready = status == ArtifactVersionStatus.READY
    return ArtifactVersion.objects.create(
        artifact=artifact, status=status, uri="file:///transitions", version="1" if ready else None
    ).id


def _status_of(machine: StateMachine, row_id: int) -> str:
    return machine.model._default_manager.values_list(machine.field, flat=True).get(id=row_id)


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "source", "target"), ALL_PAIRS)
def test_every_move_is_made_exactly_when_the_table_lists_it(kind, source, target):
    machine = MACHINES[kind]
    row_id = _row(kind, source)
    extra = {"version": "1"} if kind == "artifact version" else {}
    if target in machine.moves[source]:
        assert machine.move([row_id], source=[source], target=target, **extra) == 1
        assert _status_of(machine, row_id) == target
    else:
        with pytest.raises(IllegalTransition):
            machine.move([row_id], source=[source], target=target, **extra)
        assert _status_of(machine, row_id) == source


@pytest.mark.django_db
@pytest.mark.parametrize("kind", MACHINES)
def test_a_row_that_is_not_in_the_source_status_does_not_move(kind):
    machine = MACHINES[kind]
    source, target = next((s, t) for s, targets in machine.moves.items() for t in sorted(targets))
    elsewhere = next(status for status in CHOICES[kind] if status != source)
    row_id = _row(kind, elsewhere)
    extra = {"version": "1"} if kind == "artifact version" else {}

    assert machine.move([row_id], source=[source], target=target, **extra) == 0
    assert _status_of(machine, row_id) == elsewhere


def test_a_move_through_a_status_is_built_exactly_when_both_hops_are_listed():
    built = []
    for source, via, target in itertools.product(StepStatus.values, repeat=3):
        if STEPS.allows(source, via) and STEPS.allows(via, target):
            sql, params = STEPS.move_one_statement(1, source=[source], via=via, target=target)
            # Written straight to the target, from the source only.
            assert (params[0], params[-1], sql.count("%s")) == (target, source, len(params))
            built.append((source, via, target))
        else:
            with pytest.raises(IllegalTransition):
                STEPS.move_one_statement(1, source=[source], via=via, target=target)
    assert ("pending", "queued", "running") in built


@pytest.mark.django_db
def test_a_move_through_a_status_makes_one_write_from_the_source_only():
    pending, queued = _row("step", StepStatus.PENDING), _row("step", StepStatus.QUEUED)
    sql, params = STEPS.move_one_statement(
        pending, source=[StepStatus.PENDING], via=StepStatus.QUEUED, target="running"
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.rowcount == 1
        # The same statement for a row already queued moves nothing: the path starts at pending.
        cursor.execute(sql, [*params[:-2], queued, params[-1]])
        assert cursor.rowcount == 0
    assert (_status_of(STEPS, pending), _status_of(STEPS, queued)) == ("running", "queued")


@pytest.mark.django_db
def test_a_move_of_a_row_found_by_a_subquery_moves_that_row_and_increments_its_fields():
    queued, running = _row("step", StepStatus.QUEUED), _row("step", StepStatus.RUNNING)
    found = RowSelect(
        "SELECT id FROM pipelines_steprun WHERE id IN (%s, %s) AND status = %s", [queued, running, "queued"]
    )
    sql, params = STEPS.move_one_statement(
        found, source=[StepStatus.QUEUED], target=StepStatus.RUNNING, increment=("attempt",), worker="w"
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.rowcount == 1
        cursor.execute(sql, params)  # nothing queued is left to find
        assert cursor.rowcount == 0
    moved = StepRun.objects.get(id=queued)
    assert (moved.status, moved.attempt, moved.worker) == ("running", 1, "w")
    assert StepRun.objects.get(id=running).attempt == 0


# --- run status through its services --------------------------------------------------------
@pytest.mark.django_db
def test_the_first_step_to_start_moves_the_run_to_running_and_the_rest_only_bump_it():
    run = _run()
    now = timezone.now()

    pipeline_run_mark_running(run_id=run.id, now=now)
    pipeline_run_mark_running(run_id=run.id, now=timezone.now(), seen_status=RunStatus.RUNNING)
    pipeline_run_mark_running(run_id=run.id, now=timezone.now())  # read nothing: tries, then bumps

    run.refresh_from_db()
    assert (run.status, run.started_at, run.revision) == (RunStatus.RUNNING, now, 3)


@pytest.mark.django_db
def test_a_stopping_run_stays_stopping_when_a_step_starts():
    run = _run(RunStatus.STOPPING)

    pipeline_run_mark_running(run_id=run.id, now=timezone.now())

    run.refresh_from_db()
    assert (run.status, run.started_at, run.revision) == (RunStatus.STOPPING, None, 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "steps", "expected"),
    [
        (RunStatus.RUNNING, [StepStatus.COMPLETED, StepStatus.CACHED], RunStatus.COMPLETED),
        (RunStatus.RUNNING, [StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED], RunStatus.FAILED),
        (RunStatus.INITIALIZING, [StepStatus.CACHED], RunStatus.COMPLETED),
        (RunStatus.STOPPING, [StepStatus.COMPLETED, StepStatus.STOPPED], RunStatus.STOPPED),
        (RunStatus.RUNNING, [StepStatus.COMPLETED, StepStatus.RUNNING], RunStatus.RUNNING),
        (RunStatus.FAILED, [StepStatus.FAILED], RunStatus.FAILED),
    ],
)
def test_a_run_s_status_is_derived_from_its_steps(status, steps, expected):
    run = _run(status)

    pipeline_run_finish_if_done(run=run, statuses=steps)

    run.refresh_from_db()
    assert run.status == expected
    assert run.revision == 1  # waiting clients are told either way
    assert (run.finished_at is not None) == (expected != status)


@pytest.mark.django_db
def test_deriving_from_a_status_read_without_the_lock_is_refused():
    run = _run(RunStatus.RUNNING)
    PipelineRun.objects.filter(id=run.id).update(status=RunStatus.STOPPING)  # another process, meanwhile

    with pytest.raises(RunChangedUnderLock):
        pipeline_run_finish_if_done(run=run, statuses=[StepStatus.COMPLETED])

    assert PipelineRun.objects.get(id=run.id).status == RunStatus.STOPPING


@pytest.mark.django_db
def test_stopping_a_stopping_run_again_changes_nothing():
    run = _run(RunStatus.RUNNING)

    assert pipeline_run_mark_stopping(run=run) is True
    assert pipeline_run_mark_stopping(run=run) is False
    assert PipelineRun.objects.get(id=run.id).status == RunStatus.STOPPING


# --- model stages through their service ----------------------------------------------------
@pytest.fixture
def versions(db):
    model = MLModel.objects.create(name="churn")
    return [ModelVersion.objects.create(model=model, number=n, name=str(n)) for n in (1, 2)]


@pytest.mark.parametrize(("source", "target"), list(itertools.product(ModelStage.values, ModelStage.values)))
def test_the_stage_service_makes_every_move_of_the_table(versions, source, target):
    version = versions[0]
    ModelVersion.objects.filter(id=version.id).update(stage=source)

    assert model_version_set_stage(version=version, stage=target).stage == target


def test_promoting_into_a_held_live_stage_archives_the_holder_only_with_force(versions):
    first, second = versions
    model_version_set_stage(version=first, stage=ModelStage.PRODUCTION)

    with pytest.raises(ModelStageTaken):
        model_version_set_stage(version=second, stage=ModelStage.PRODUCTION)
    model_version_set_stage(version=second, stage=ModelStage.PRODUCTION, force=True)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.stage, second.stage) == (ModelStage.ARCHIVED, ModelStage.PRODUCTION)


def test_staying_in_a_stage_is_no_move_and_needs_no_force(versions):
    first, _ = versions
    model_version_set_stage(version=first, stage=ModelStage.PRODUCTION)

    assert model_version_set_stage(version=first, stage=ModelStage.PRODUCTION).stage == ModelStage.PRODUCTION


# --- artifact versions: pending -> ready is written once --------------------------------
@pytest.mark.django_db
def test_an_artifact_version_is_made_ready_once_and_refused_the_second_time():
    from pipelines.services.artifacts import SavedOutput

    run = _run(RunStatus.RUNNING)
    step = StepRun.objects.create(pipeline_run=run, name="s", source="m:f", spec={}, status=StepStatus.RUNNING)
    artifact = Artifact.objects.create(name="numbers")
    pending = ArtifactVersion.objects.create(
        artifact=artifact, status=ArtifactVersionStatus.PENDING, uri="file:///numbers", producer_step_run=step
    )
    output = SavedOutput(
        name="numbers",
        artifact_version_id=pending.id,
        materializer="m:M",
        data_type="builtins.list",
        checksum="c",
        size=1,
    )

    artifact_versions_make_ready(step_run_id=step.id, attempt=1, outputs=[output])
    pending.refresh_from_db()
    assert (pending.status, pending.version, pending.number) == (ArtifactVersionStatus.READY, "1", 1)

    with pytest.raises(ArtifactVersionNotPending):
        artifact_versions_make_ready(step_run_id=step.id, attempt=1, outputs=[output])


# --- no status is written anywhere else ----------------------------------------------------
STATUS_FIELDS = {"status", "stage"}


def _status_writes(path: Path, root: Path = REPO) -> list[str]:
    """`.update(status=...)`/`.update(stage=...)` calls and raw SQL that sets a status."""
    found = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"update", "bulk_update"}
            and any(keyword.arg in STATUS_FIELDS for keyword in node.keywords)
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.upper()
            if "SET STATUS" in text or "SET STAGE" in text or "STATUS = CASE" in text:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return sorted(found)


def test_no_code_but_the_transition_tables_writes_a_status():
    allowed = REPO / "pipelines" / "services" / "transitions.py"
    writes = [
        where
        for package in ("pipelines", "dashboard", "secrets_app", "config")
        for path in sorted((REPO / package).rglob("*.py"))
        if path != allowed and "migrations" not in path.parts
        for where in _status_writes(path)
    ]
    assert not writes, "Status writes outside pipelines/services/transitions.py:\n" + "\n".join(writes)


def test_the_scan_finds_a_status_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'Run.objects.filter(id=1).update(status="failed", revision=F("revision") + 1)\n'
        'cursor.execute("UPDATE run SET status = CASE WHEN status = %s THEN %s END")\n'
    )
    assert _status_writes(sample, root=tmp_path) == ["sample.py:1", "sample.py:2"]
