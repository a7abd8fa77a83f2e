"""Prune: which runs and artifact versions go, what stays, and how an interrupted prune resumes."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from pipelines.models import (
    Artifact,
    ArtifactVersion,
    BackupLease,
    ModelStage,
    Pipeline,
    PipelineRun,
    PrunedArtifactVersion,
    StepRun,
    StepRunInput,
    StepRunOutput,
)
from pipelines.services import retention
from pipelines.services.model_versions import model_version_set_stage
from pipelines.services.retention import (
    PruneError,
    parse_age,
    pipelines_prune_by_retention,
    prune_execute,
    prune_plan,
)
from pipelines.storage import artifact_store
from tests.unit.dashboard_data import link, make_model_version, save_value, use_fresh_store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def run_with_output(
    name: str, *, pipeline: str = "training", days_old: float = 0, status: str = "completed", data: bytes = b"x" * 100
) -> tuple[PipelineRun, ArtifactVersion]:
    """A run of one step whose output is a ready version with `data` in the store."""
    pipeline_row, _ = Pipeline.objects.get_or_create(name=pipeline)
    run = PipelineRun.objects.create(pipeline=pipeline_row, name=name, spec={}, status=status)
    PipelineRun.objects.filter(id=run.id).update(created_at=timezone.now() - timedelta(days=days_old))
    step_status = "completed" if status in ("completed", "failed", "stopped") else "running"
    step = StepRun.objects.create(pipeline_run=run, name="make", source="steps:make", spec={}, status=step_status)
    store = artifact_store()
    uri = store.uri_for(run_id=run.id, step_run_id=step.id, attempt=1, output_index=0)
    Path(uri).mkdir(parents=True)
    (Path(uri) / "data.bin").write_bytes(data)
    checksum, size = store.checksum(uri)
    artifact, _ = Artifact.objects.get_or_create(name=f"{pipeline}::make::output")
    number = artifact.versions.count() + 1
    version = ArtifactVersion.objects.create(
        artifact=artifact,
        version=str(number),
        number=number,
        uri=uri,
        materializer="pipelines.materializers:BytesMaterializer",
        checksum=checksum,
        size=size,
        producer_step_run=step,
        producer_attempt=1,
    )
    StepRunOutput.objects.create(step_run=step, name="output", artifact_version=version)
    return PipelineRun.objects.get(id=run.id), version


def names(plan) -> list[str]:
    return [name for _, name in plan.runs]


def exists(version: ArtifactVersion) -> bool:
    return Path(version.uri).exists()


# --- selection --------------------------------------------------------------------------


def test_older_than_selects_finished_runs_created_before_the_age():
    run_with_output("old", days_old=40)
    run_with_output("new", days_old=5)

    assert names(prune_plan(older_than=timedelta(days=30))) == ["old"]


def test_keep_last_keeps_the_newest_runs_of_each_pipeline():
    for index in range(4):
        run_with_output(f"a-{index}", pipeline="a", days_old=10 - index)
    run_with_output("b-0", pipeline="b", days_old=20)

    assert names(prune_plan(keep_last=2)) == ["a-0", "a-1"]
    assert names(prune_plan(keep_last=2, pipeline_name="b")) == []


def test_with_both_rules_a_run_goes_only_when_neither_keeps_it():
    for index in range(4):
        run_with_output(f"r-{index}", days_old=[50, 40, 3, 2][index])

    # keep-last 3 keeps r-1..r-3; older-than 30d keeps r-2, r-3; only r-0 is neither.
    assert names(prune_plan(older_than=timedelta(days=30), keep_last=3)) == ["r-0"]


def test_a_run_in_progress_is_never_selected_however_old():
    running, version = run_with_output("running", days_old=400, status="running")

    plan = prune_plan(older_than=timedelta(days=1), keep_last=0)
    result = prune_execute(plan=plan)

    assert names(plan) == []
    assert result.runs_deleted == 0
    assert PipelineRun.objects.filter(id=running.id).exists()
    assert exists(version)


def test_a_run_a_staged_model_version_links_to_is_kept_but_an_archived_one_protects_nothing(owner):
    production, _ = run_with_output("production", days_old=40)
    _by_artifact, produced = run_with_output("by-artifact", days_old=40)
    archived, _ = run_with_output("archived", days_old=40)
    v_prod = make_model_version(owner, model="churn")
    v_staging = make_model_version(owner, model="churn")
    v_archived = make_model_version(owner, model="churn")
    model_version_set_stage(version=v_prod, stage=ModelStage.PRODUCTION)
    model_version_set_stage(version=v_staging, stage=ModelStage.STAGING)
    model_version_set_stage(version=v_archived, stage=ModelStage.ARCHIVED)
    PipelineRun.objects.filter(id=production.id).update(model_version=v_prod)
    link(v_staging, produced)
    PipelineRun.objects.filter(id=archived.id).update(model_version=v_archived)

    plan = prune_plan(older_than=timedelta(days=30))

    assert names(plan) == ["archived"]
    assert sorted(name for _, name in plan.protected_runs) == ["by-artifact", "production"]


def test_an_artifact_version_a_model_version_uses_stays_with_its_files_when_its_run_goes(owner):
    run, version = run_with_output("old", days_old=40)
    link(make_model_version(owner, model="churn"), version)  # no stage: the run is not protected

    result = prune_execute(plan=prune_plan(older_than=timedelta(days=30)))

    assert result.runs_deleted == 1
    assert result.versions_deleted == 0
    assert not PipelineRun.objects.filter(id=run.id).exists()
    assert ArtifactVersion.objects.filter(id=version.id).exists()
    assert exists(version)


def test_an_artifact_version_a_kept_run_uses_as_input_stays_until_that_run_goes_too():
    _, old_output = run_with_output("old", days_old=40)
    consumer, _ = run_with_output("consumer", days_old=5)
    StepRunInput.objects.create(step_run=consumer.steps.get(), name="data", artifact_version=old_output)

    prune_execute(plan=prune_plan(older_than=timedelta(days=30)))
    assert ArtifactVersion.objects.filter(id=old_output.id).exists()
    assert exists(old_output)

    # Later the consumer goes too: the version, produced by no run any more, goes with it.
    plan = prune_plan(older_than=timedelta(days=1))
    assert names(plan) == ["consumer"]
    assert old_output.id in {version.id for version in plan.versions}
    prune_execute(plan=plan)
    assert not ArtifactVersion.objects.filter(id=old_output.id).exists()
    assert not exists(old_output)


def test_a_version_a_cached_step_of_a_kept_run_reuses_stays():
    _, output = run_with_output("old", days_old=40)
    cached, _ = run_with_output("cached", days_old=1)
    StepRun.objects.create(pipeline_run=cached, name="reuse", source="steps:make", spec={}, status="cached")
    StepRunOutput.objects.create(step_run=cached.steps.get(name="reuse"), name="output", artifact_version=output)

    prune_execute(plan=prune_plan(older_than=timedelta(days=30)))

    assert ArtifactVersion.objects.filter(id=output.id).exists()
    assert exists(output)


def test_a_version_saved_from_a_script_is_never_pruned():
    saved = save_value("notes", {"a": 1})
    run, output = run_with_output("old", days_old=40)
    StepRunInput.objects.create(step_run=run.steps.get(), name="notes", artifact_version=saved)

    prune_execute(plan=prune_plan(older_than=timedelta(days=30)))

    assert ArtifactVersion.objects.filter(id=saved.id).exists()
    assert Path(saved.uri).exists()
    assert not ArtifactVersion.objects.filter(id=output.id).exists()


def test_prune_deletes_rows_then_files_and_leaves_a_finished_tombstone():
    run, version = run_with_output("old", days_old=40, data=b"y" * 1000)

    result = prune_execute(plan=prune_plan(older_than=timedelta(days=30)))

    assert (result.runs_deleted, result.versions_deleted, result.files_deleted) == (1, 1, 1)
    assert result.bytes_freed == 1000
    assert not PipelineRun.objects.filter(id=run.id).exists()
    assert not StepRun.objects.filter(pipeline_run_id=run.id).exists()
    assert not exists(version)
    tombstone = PrunedArtifactVersion.objects.get(version_id=version.id)
    assert tombstone.files_deleted_at is not None
    assert tombstone.uri == version.uri
    assert "was deleted by prune" in retention.pruned_version_note(version.id)


def test_a_dry_run_changes_nothing_and_reports_runs_versions_and_bytes():
    run, version = run_with_output("old", days_old=40, data=b"z" * 2048)
    out = io.StringIO()

    call_command("prune", "--older-than", "30d", "--dry-run", stdout=out)

    text = out.getvalue()
    assert "Would delete 1 runs, 1 artifact versions, 2.0 KB of files (2048 bytes)" in text
    assert f"run {run.id} old" in text
    assert version.uri in text
    assert PipelineRun.objects.filter(id=run.id).exists()
    assert exists(version)
    assert not PrunedArtifactVersion.objects.exists()


# --- interruptions --------------------------------------------------------------------------


def test_interrupted_after_the_rows_went_the_next_prune_deletes_the_files(monkeypatch):
    _, version = run_with_output("old", days_old=40)

    def crash(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(retention, "pruned_files_delete", crash)
    with pytest.raises(KeyboardInterrupt):
        prune_execute(plan=prune_plan(older_than=timedelta(days=30)))
    monkeypatch.undo()
    assert not ArtifactVersion.objects.filter(id=version.id).exists()
    assert exists(version)  # the files outlived their row, tracked by the tombstone

    plan = prune_plan(older_than=timedelta(days=30))
    assert plan.runs == []
    assert plan.leftover_files == 1
    result = prune_execute(plan=plan)

    assert result.files_deleted == 1
    assert not exists(version)
    assert PrunedArtifactVersion.objects.get(version_id=version.id).files_deleted_at is not None


def test_interrupted_inside_the_row_transaction_nothing_changes(monkeypatch):
    run, version = run_with_output("old", days_old=40)
    real = retention._versions_freed

    def freed_then_crash(run_ids):
        real(run_ids)
        PrunedArtifactVersion.objects.create(
            version_id=10**9, artifact_name="x", uri="/nowhere", pruned_at=timezone.now()
        )
        raise RuntimeError("power cut")

    plan = prune_plan(older_than=timedelta(days=30))
    monkeypatch.setattr(retention, "_versions_freed", freed_then_crash)
    with pytest.raises(RuntimeError, match="power cut"):
        prune_execute(plan=plan)
    monkeypatch.setattr(retention, "_versions_freed", real)

    assert PipelineRun.objects.filter(id=run.id).exists()
    assert exists(version)
    assert not PrunedArtifactVersion.objects.exists()
    result = prune_execute(plan=prune_plan(older_than=timedelta(days=30)))
    assert result.runs_deleted == 1
    assert not exists(version)


def test_while_a_backup_holds_its_lease_rows_go_but_files_wait():
    _, version = run_with_output("old", days_old=40)
    now = timezone.now()
    lease = BackupLease.objects.create(holder="backup.sh", started_at=now, expires_at=now + timedelta(hours=1))

    result = prune_execute(plan=prune_plan(older_than=timedelta(days=30)))

    assert result.versions_deleted == 1
    assert result.files_deleted == 0
    assert result.files_waiting == 1
    assert exists(version)
    lease.delete()
    assert prune_execute(plan=prune_plan(older_than=timedelta(days=30))).files_deleted == 1
    assert not exists(version)


def test_a_run_that_went_back_into_progress_after_the_plan_is_left_alone():
    run, version = run_with_output("old", days_old=40)
    plan = prune_plan(older_than=timedelta(days=30))
    PipelineRun.objects.filter(id=run.id).update(status="running")

    assert prune_execute(plan=plan).runs_deleted == 0
    assert PipelineRun.objects.filter(id=run.id).exists()
    assert exists(version)


# --- options and the command -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        (" 2w", timedelta(weeks=2)),
        ("90m", timedelta(minutes=90)),
    ],
)
def test_ages_read_as_a_number_and_a_unit(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["30", "d", "-3d", "3y", "", "1.5d"])
def test_a_malformed_age_says_the_form(text):
    with pytest.raises(PruneError, match=r"e\.g\. 30d"):
        parse_age(text)


def test_the_command_refuses_options_that_select_nothing_and_unknown_pipelines():
    with pytest.raises(CommandError, match=r"--older-than .* and/or --keep-last"):
        call_command("prune", "--dry-run")
    with pytest.raises(CommandError, match="no pipeline named 'nope'"):
        call_command("prune", "--keep-last", "1", "--pipeline", "nope", "--dry-run")
    with pytest.raises(CommandError, match="not an age"):
        call_command("prune", "--older-than", "soon", "--dry-run")
    with pytest.raises(CommandError, match="--keep-last must be 0 or more"):
        call_command("prune", "--keep-last", "-1", "--dry-run")


def test_the_command_asks_unless_given_yes_and_says_what_it_deleted():
    run, version = run_with_output("old", days_old=40, data=b"q" * 10)
    with pytest.raises(CommandError, match="pass --yes"):
        call_command("prune", "--older-than", "30d")  # not a terminal under pytest
    assert PipelineRun.objects.filter(id=run.id).exists()

    out = io.StringIO()
    call_command("prune", "--older-than", "30d", "--yes", stdout=out)

    assert "deleted 1 runs, 1 artifact versions, 1 files (10 bytes)" in out.getvalue()
    assert not exists(version)


# --- the pipelines' own settings (the periodic task) -------------------------------------------


def test_each_pipeline_s_own_retention_settings_apply_and_pipelines_without_them_are_left_alone():
    for index in range(3):
        run_with_output(f"kept-{index}", pipeline="short", days_old=3 - index)
        run_with_output(f"untouched-{index}", pipeline="forever", days_old=100 + index)
    run_with_output("ancient", pipeline="aged", days_old=20)
    run_with_output("fresh", pipeline="aged", days_old=1)
    Pipeline.objects.filter(name="short").update(retention_keep_runs=1)
    Pipeline.objects.filter(name="aged").update(retention_keep_days=10)

    result = pipelines_prune_by_retention()

    assert result.runs_deleted == 3
    remaining = set(PipelineRun.objects.values_list("name", flat=True))
    assert remaining == {"kept-2", "untouched-0", "untouched-1", "untouched-2", "fresh"}


def test_the_periodic_task_applies_the_retention_settings():
    from pipelines.tasks import prune_by_retention

    run_with_output("old", pipeline="short", days_old=3)
    run_with_output("new", pipeline="short", days_old=1)
    Pipeline.objects.filter(name="short").update(retention_keep_runs=1)

    prune_by_retention()  # the task body, as a worker runs it (without its connection handling)

    assert list(PipelineRun.objects.values_list("name", flat=True)) == ["new"]


def test_the_beat_schedule_runs_retention_daily(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["pipelines-prune-by-retention"]
    assert entry["task"] == "pipelines.prune_by_retention"
    assert entry["schedule"].hour == {3}
    assert entry["schedule"].minute == {0}


def test_a_retention_hour_outside_the_day_stops_the_settings_with_the_variable_named():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import config.settings.base"],
        env={**__import__("os").environ, "PIPELINES_RETENTION_HOUR": "24"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "PIPELINES_RETENTION_HOUR=24 is not an hour" in result.stderr


def test_a_version_a_step_still_to_run_names_as_an_external_input_stays():
    _, output = run_with_output("old", days_old=40)
    waiting, _ = run_with_output("waiting", days_old=0, status="running")
    StepRun.objects.create(
        pipeline_run=waiting,
        name="consume",
        source="steps:consume",
        spec={"external_inputs": {"data": output.id}},
        status="pending",
    )

    result = prune_execute(plan=prune_plan(older_than=timedelta(days=30)))

    assert result.runs_deleted == 1
    assert ArtifactVersion.objects.filter(id=output.id).exists()
    assert exists(output)
