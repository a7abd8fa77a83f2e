"""Creating runs and keeping a run's status in step with its steps."""

from __future__ import annotations

import json
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from pipelines.models import (
    FINISHED_STEP_STATUSES,
    SUCCESSFUL_STEP_STATUSES,
    ModelVersion,
    Pipeline,
    PipelineRun,
    RunStatus,
    StepRun,
    StepStatus,
)
from pipelines.sdk.spec import PipelineSpec, upstream_of, validate_spec


def _render_run_name(template: str, *, pipeline: str, now: datetime) -> str:
    return template.format(pipeline=pipeline, date=now.strftime("%Y_%m_%d"), time=now.strftime("%H_%M_%S_%f"))


def _create_run_row(
    *, pipeline: Pipeline, spec: PipelineSpec, user: AbstractBaseUser | None, model_version: ModelVersion | None
) -> PipelineRun:
    base_name = _render_run_name(spec["run_name_template"], pipeline=pipeline.name, now=timezone.now())[:240]
    config = {
        "enable_cache": spec["enable_cache"],
        "run_name_template": spec["run_name_template"],
        "source_root": spec.get("source_root", ""),
        "pipeline_source": spec.get("pipeline_source", ""),
    }
    # Names must be unique; a template without {time} (or two runs in the same
    # microsecond) gets a numeric suffix instead of an error.
    for suffix in range(1, 1000):
        name = base_name if suffix == 1 else f"{base_name}_{suffix}"
        try:
            with transaction.atomic():
                return PipelineRun.objects.create(
                    pipeline=pipeline,
                    name=name,
                    spec=spec,
                    parameters=spec["parameters"],
                    config=config,
                    triggered_by=user if user and user.is_authenticated else None,
                    queue=settings.PIPELINES["QUEUE"],
                    model_version=model_version,
                )
        except IntegrityError:
            if not PipelineRun.objects.filter(name=name).exists():
                raise
    raise IntegrityError(f"Could not find a free run name for {base_name!r}.")


def _resolve_model_versions(spec: PipelineSpec, *, user: AbstractBaseUser | None) -> dict[str | None, ModelVersion]:
    """The model version of the pipeline (key None) and of each step with a model of its own.

    Equal model configurations share one version within a run, so a pipeline and a
    step (or two steps) naming the same unversioned Model work on the same new version.
    """
    from pipelines.services.model_versions import model_version_resolve

    by_config: dict[str, ModelVersion] = {}

    def resolve(spec_model: dict) -> ModelVersion:
        config = json.dumps([spec_model["name"], spec_model.get("version")])
        if config not in by_config:
            by_config[config] = model_version_resolve(spec_model=spec_model, user=user)
        return by_config[config]

    versions: dict[str | None, ModelVersion] = {}
    if spec.get("model"):
        versions[None] = resolve(spec["model"])
    for step in spec["steps"]:
        if step.get("model"):
            versions[step["name"]] = resolve(step["model"])
    return versions


def pipeline_run_create(*, spec: object, user: AbstractBaseUser | None) -> PipelineRun:
    """Validate a compiled spec, store the run and its steps, queue the first steps.

    Raises SpecError (a ValueError) with a message for the caller when the spec
    cannot run; nothing is stored then.
    """
    from pipelines.services.steps import step_runs_advance

    valid = validate_spec(spec)
    with transaction.atomic():
        pipeline, _ = Pipeline.objects.get_or_create(
            name=valid["pipeline"], defaults={"created_by": user if user and user.is_authenticated else None}
        )
        step_model_versions = _resolve_model_versions(valid, user=user)
        pipeline_model_version = step_model_versions.get(None)
        # A run whose models are all set on steps is listed under the first of them.
        model_version = pipeline_model_version or next(iter(step_model_versions.values()), None)
        run = _create_run_row(pipeline=pipeline, spec=valid, user=user, model_version=model_version)
        StepRun.objects.bulk_create(
            [
                StepRun(
                    pipeline_run=run,
                    name=step["name"],
                    source=step["source"],
                    code_hash=step["code_hash"],
                    parameters=step["parameters"],
                    spec=step,
                    upstream=sorted(upstream_of(step)),
                    status=StepStatus.PENDING,
                    model_version=step_model_versions.get(step["name"], pipeline_model_version),
                )
                for step in valid["steps"]
            ]
        )
        step_runs_advance(run=run)
    run.refresh_from_db()
    return run


def pipeline_run_bump(*, run_id: int) -> None:
    """Tell waiting clients that something about the run changed."""
    PipelineRun.objects.filter(id=run_id).update(revision=F("revision") + 1)


def pipeline_run_mark_running(*, run_id: int, now: datetime) -> None:
    """A step started: the run is running (if it was initializing); clients are told."""
    # Plain SQL: this runs for every step, and building the same statement with
    # Case/When/Coalesce expressions costs the ORM about a millisecond each time.
    table = connection.ops.quote_name(PipelineRun._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET "  # noqa: S608 (no user input: the table name is ours)
            "status = CASE WHEN status = %s THEN %s ELSE status END, "
            "started_at = COALESCE(started_at, %s), revision = revision + 1 WHERE id = %s",
            [RunStatus.INITIALIZING, RunStatus.RUNNING, connection.ops.adapt_datetimefield_value(now), run_id],
        )


def pipeline_run_finish_if_done(*, run: PipelineRun, statuses: list[str] | None = None) -> None:
    """Derive the run's status from its steps and tell waiting clients; call inside
    the transaction that changed a step, with the run row locked.

    A run ends only when every step has: stopped if it was being stopped, completed
    if every step completed or was cached, failed otherwise (independent branches
    still run to the end, as in Airflow and Dagster).
    """
    if statuses is None:
        statuses = list(StepRun.objects.filter(pipeline_run_id=run.id).values_list("status", flat=True))
    changes: dict[str, object] = {"revision": F("revision") + 1}
    if all(status in FINISHED_STEP_STATUSES for status in statuses) and not run.is_finished:
        if run.status == RunStatus.STOPPING:
            changes["status"] = RunStatus.STOPPED
        elif all(s in SUCCESSFUL_STEP_STATUSES for s in statuses):
            changes["status"] = RunStatus.COMPLETED
        else:
            changes["status"] = RunStatus.FAILED
        changes["finished_at"] = timezone.now()
    PipelineRun.objects.filter(id=run.id).update(**changes)


def pipeline_run_stop(*, run: PipelineRun) -> PipelineRun:
    """Stop a run: steps that have not started never will; running ones finish.

    Idempotent; a finished run is left as it is.
    """
    from pipelines.services.steps import step_runs_stop

    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(id=run.id)
        if run.is_finished:
            return run
        PipelineRun.objects.filter(id=run.id).update(status=RunStatus.STOPPING)
        run.status = RunStatus.STOPPING
        step_runs_stop(step_run_ids=run.steps.values_list("id", flat=True))
        pipeline_run_finish_if_done(run=run)
    run.refresh_from_db()
    return run
