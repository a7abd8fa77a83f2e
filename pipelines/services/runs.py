"""Creating and stopping runs. Their status follows their steps: see `run_status.py`."""

from __future__ import annotations

import json
import time
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, JSONField, TextField, Value
from django.db.models.functions import Cast, StrIndex
from django.utils import timezone

from pipelines.models import ModelVersion, Pipeline, PipelineRun, RunTrigger, StepRun, StepStatus
from pipelines.sdk.spec import PipelineSpec, upstream_of, validate_spec
from pipelines.services import hot_sql
from pipelines.services.external_inputs import external_inputs_check
from pipelines.services.model_versions import model_version_resolve
from pipelines.services.pipeline_versions import pipeline_version_find, pipeline_version_record
from pipelines.services.run_status import (
    pipeline_run_bump,
    pipeline_run_finish_if_done,
    pipeline_run_mark_stopping,
)
from pipelines.services.steps import step_runs_advance, step_runs_stop

# Re-exported: callers that create runs also tell clients about them.
__all__ = ["pipeline_run_bump", "pipeline_run_create", "pipeline_run_stop"]


def _render_run_name(template: str, *, pipeline: str, now: datetime) -> str:
    return template.format(pipeline=pipeline, date=now.strftime("%Y_%m_%d"), time=now.strftime("%H_%M_%S_%f"))


def _create_run_row(
    *,
    pipeline: Pipeline,
    spec: PipelineSpec,
    user: AbstractBaseUser | None,
    model_version: ModelVersion | None,
    origin: dict[str, object],
) -> PipelineRun:
    base_name = _render_run_name(spec["run_name_template"], pipeline=pipeline.name, now=timezone.now())[:240]
    config = {
        "enable_cache": spec["enable_cache"],
        "run_name_template": spec["run_name_template"],
        "source_root": spec.get("source_root", ""),
        "pipeline_source": spec.get("pipeline_source", ""),
        # As ZenML's run configuration: `extra`, `settings` (stored, without effect) and tags.
        "extra": spec.get("extra", {}),
        "settings": spec.get("settings", {}),
        "tags": spec.get("tags", []),
    }
    # Names must be unique; a template without {time} (or two runs in the same
    # microsecond) gets a numeric suffix instead of an error.
    run = PipelineRun(
        pipeline=pipeline,
        spec=spec,
        parameters=spec["parameters"],
        config=config,
        triggered_by=user if user and user.is_authenticated else None,
        # The queue of its steps that name none of their own.
        queue=spec.get("queue") or settings.PIPELINES["QUEUE"],
        model_version=model_version,
        tags=list(spec.get("tags", [])),
        **origin,
    )
    for suffix in range(1, 1000):
        run.name = base_name if suffix == 1 else f"{base_name}_{suffix}"
        run_id = _insert_run_row(run)
        if run_id is not None:
            run.id = run_id
            run._state.adding, run._state.db = False, connection.alias
            return run
    raise IntegrityError(f"Could not find a free run name for {base_name!r}.")


def _insert_run_row(run: PipelineRun) -> int | None:
    """Insert `run` (its fields prepared as the ORM's insert prepares them); its new
    id, or None when its name is taken.

    One plain statement that skips a taken name (ON CONFLICT on the name's unique
    index; any other refusal still raises): the ORM's `create` in a savepoint cost
    two more round trips and more CPU building the insert than PostgreSQL took to
    run it.
    """
    fields = [field for field in PipelineRun._meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(run, add=True), connection) for field in fields]
    sql = _run_insert_statement(connection.vendor)
    if connection.vendor == "postgresql":
        rows = hot_sql.execute(f"{sql} RETURNING {connection.ops.quote_name('id')}", values)
        return rows[0][0] if rows else None
    # SQLite: RETURNING needs 3.35; the row id of the insert is known without it.
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.lastrowid if cursor.rowcount else None


@cache
def _run_insert_statement(vendor: str) -> str:
    quote = connection.ops.quote_name
    fields = [field for field in PipelineRun._meta.concrete_fields if not field.primary_key]
    # S608: only the model's quoted table and column names go into the text.
    return (
        f"INSERT INTO {quote(PipelineRun._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT ({quote('name')}) DO NOTHING"
    )


def _resolve_model_versions(spec: PipelineSpec, *, user: AbstractBaseUser | None) -> dict[str | None, ModelVersion]:
    """The model version of the pipeline (key None) and of each step with a model of its own.

    Equal model configurations share one version within a run, so a pipeline and a
    step (or two steps) naming the same unversioned Model work on the same new version.
    """
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


def pipeline_run_create(
    *,
    spec: object,
    user: AbstractBaseUser | None,
    trigger: str = RunTrigger.CODE,
    rerun_of: PipelineRun | None = None,
    schedule_id: int | None = None,
) -> PipelineRun:
    """Validate a compiled spec, store the run and its steps, queue the first steps.

    The spec's version is recorded (`pipeline_version_find`, else
    `pipeline_version_record`) so the run can be started again without the code;
    `trigger`, `rerun_of` and `schedule_id` say what started it. Raises SpecError (a
    ValueError) with a message for the caller when the spec cannot run; nothing is
    stored then.
    """
    valid = validate_spec(spec)
    external_inputs_check(valid, user=user)
    with transaction.atomic():
        pipeline_version = pipeline_version_find(pipeline_name=valid["pipeline"], spec=valid)
        if pipeline_version is not None:
            pipeline = pipeline_version.pipeline
        else:
            pipeline, _ = Pipeline.objects.get_or_create(
                name=valid["pipeline"], defaults={"created_by": user if user and user.is_authenticated else None}
            )
            pipeline_version = pipeline_version_record(pipeline=pipeline, spec=valid, user=user)
        step_model_versions = _resolve_model_versions(valid, user=user)
        pipeline_model_version = step_model_versions.get(None)
        # A run whose models are all set on steps is listed under the first of them.
        model_version = pipeline_model_version or next(iter(step_model_versions.values()), None)
        origin = {
            "trigger": trigger,
            "rerun_of": rerun_of,
            "pipeline_version": pipeline_version,
            **({"schedule_id": schedule_id} if schedule_id is not None else {}),
        }
        run = _create_run_row(pipeline=pipeline, spec=valid, user=user, model_version=model_version, origin=origin)
        _take_exclusive_tags(run=run, tags=valid.get("exclusive_tags", []))
        _insert_step_rows(
            [
                {
                    "pipeline_run_id": run.id,
                    "name": step["name"],
                    "source": step["source"],
                    "code_hash": step["code_hash"],
                    "parameters": step["parameters"],
                    "spec": step,
                    "upstream": sorted(upstream_of(step)),
                    "status": StepStatus.PENDING,
                    "model_version_id": getattr(
                        step_model_versions.get(step["name"], pipeline_model_version), "id", None
                    ),
                    "queue": step.get("queue") or run.queue,
                }
                for step in valid["steps"]
            ]
        )
        step_runs_advance(run=run)
    _read_back(run)
    return run


# Every field but the spec (reading it back cost a 1,000-step run more than the rest
# of this read), and but the pipeline and user this function set, whose objects stay
# loaded for the caller's answer (reading a link back drops its object, as
# `refresh_from_db` does: the version's, say, whose run options a later run may
# change, is read again when asked for). In the model's field order, as
# `hot_sql.read_rows` takes them.
_RUN_FIELDS_TO_READ_BACK = tuple(
    field.attname
    for field in PipelineRun._meta.concrete_fields
    if field.name not in ("spec", "pipeline", "triggered_by")
)


def _read_back(run: PipelineRun) -> None:
    """`run.refresh_from_db(fields=_RUN_FIELDS_TO_READ_BACK)` as one plain statement
    (the ORM's query cost more to build than to run): what starting its steps changed
    (status, revision, times), every value as the database holds it."""
    rows = hot_sql.read_rows(PipelineRun, _RUN_FIELDS_TO_READ_BACK, _read_back_statement(connection.vendor), [run.id])
    if not rows:
        raise PipelineRun.DoesNotExist(f"Run {run.id} was deleted while it was created.")
    for name in _RUN_FIELDS_TO_READ_BACK:
        setattr(run, name, getattr(rows[0], name))
    for field in PipelineRun._meta.concrete_fields:
        if field.is_relation and field.attname in _RUN_FIELDS_TO_READ_BACK and field.is_cached(run):
            field.delete_cached_value(run)


@cache
def _read_back_statement(vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(PipelineRun._meta.get_field(name).column) for name in _RUN_FIELDS_TO_READ_BACK)
    # S608: only the model's quoted table and column names go into the text.
    return f"SELECT {columns} FROM {quote(PipelineRun._meta.db_table)} WHERE {quote('id')} = %s"  # noqa: S608


def _insert_step_rows(rows: list[dict[str, Any]]) -> None:
    """Insert a new run's step rows (values by attribute name; the other columns get
    their field's default) in one statement.

    `bulk_create` spent most of a 1,001-step submission: on PostgreSQL ~100 ms of
    Python preparing and quoting each field and ~150 ms of the server's parsing its
    26 array literals, where a COPY of the same rows takes ~40 ms in all; on SQLite
    ~300 ms of preparing 27 batches, where one `executemany` takes ~30 ms. The
    columns a step does not set are prepared once per run.
    """
    fields = [field for field in StepRun._meta.concrete_fields if not field.primary_key]
    now = timezone.now()
    defaults = {field.attname: _column_default(field, now) for field in fields}
    json_columns = {field.attname for field in fields if isinstance(field, JSONField)}
    position = {name: index for index, name in enumerate(defaults)}
    quote = connection.ops.quote_name
    table, columns = quote(StepRun._meta.db_table), ", ".join(quote(field.column) for field in fields)
    copy = connection.vendor == "postgresql"
    if copy:  # psycopg adapts Python values (datetimes, None) for COPY itself
        template = [_copy_value(value, is_json=name in json_columns) for name, value in defaults.items()]
    else:
        template = [field.get_db_prep_save(defaults[field.attname], connection) for field in fields]
    prepared = []
    for row in rows:
        values = template.copy()
        for name, value in row.items():
            values[position[name]] = _copy_value(value, is_json=name in json_columns)
        prepared.append(values)
    if not copy:
        # S608: only the model's quoted table and column names go into the text.
        insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.executemany(insert, prepared)
        return
    sql = f"COPY {table} ({columns}) FROM STDIN"
    started = time.monotonic()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as writer:
        for values in prepared:
            writer.write_row(values)
    if connection.queries_logged:  # so that query counts (CaptureQueriesContext) see it
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"}
        )


def _column_default(field: Field, now: datetime) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    return field.get_default()


def _copy_value(value: Any, *, is_json: bool) -> Any:
    """A value a step sets, as the database driver takes it: a JSON column's as JSON
    text (None is SQL NULL, as the ORM stores it), a choice as its value (psycopg would
    write an Enum's name); the rest (text, ids) as they are."""
    if value is None:
        return None
    if is_json:
        return json.dumps(value)
    return value.value if isinstance(value, Enum) else value


def _take_exclusive_tags(*, run: PipelineRun, tags: list[str]) -> None:
    """ZenML's exclusive tags (`Tag(name=..., exclusive=True)`): one run of a pipeline
    has each, the newest, so the pipeline's other runs lose it (under their row locks)."""
    for tag in tags:
        others = PipelineRun.objects.filter(pipeline_id=run.pipeline_id).exclude(id=run.id)
        if connection.vendor == "postgresql":
            others = others.filter(tags__contains=[tag])
        else:  # SQLite: the tag as JSON wrote it, in the JSON text (see api.filters._has_tag)
            at = StrIndex(Cast("tags", TextField()), Value(json.dumps(tag)))
            others = others.annotate(_tag_at=at).filter(_tag_at__gt=0)
        for other in others.select_for_update().only("id", "tags"):
            PipelineRun.objects.filter(id=other.id).update(tags=[name for name in other.tags if name != tag])


def pipeline_run_stop(*, run: PipelineRun) -> PipelineRun:
    """Stop a run: steps that have not started never will; running ones finish.

    Idempotent; a finished run is left as it is.
    """
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(id=run.id)
        if run.is_finished:
            return run
        pipeline_run_mark_stopping(run=run)
        step_runs_stop(step_run_ids=run.steps.values_list("id", flat=True))
        pipeline_run_finish_if_done(run=run)
    run.refresh_from_db()
    return run
