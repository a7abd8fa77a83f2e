"""A run as `PipelineRunDetailSerializer` shows it, in four plain statements.

The serializer's path (`selectors.runs_with_steps`: the run, then six prefetch
queries building a model instance per step, link, version and metadata row, then
DRF's field-by-field walk) cost gunicorn ~0.5 s of CPU for a finished 1,001-step run,
and it ran for every waiting client's last answer (`runs/<id>/wait/`), every
`GET runs/<id>/` and every `stop/`. Even for a 7-step run, building its ORM queries
cost more than the database took to answer them. Here, as in `hot_reads`, the
statements are written once per process from the models' own table and column
names, with the ORM's own value converters applied: the run (with its pipeline's
name and its user's), its steps, their input and output links joined to their
versions, and the metadata of the run, its steps and those versions, whatever the
number of steps. A test pins the answer against the serializer. They go through
`hot_sql`'s cursor, so PostgreSQL prepares them: planning the joins and unions of
the links and metadata was most of its CPU for an answer.

The access decision is `access.may_read`, which asks no query: a reader sees every
run, step, link and metadata row (`access.runs_visible`, `steps_visible`,
`step_inputs_visible`, `step_outputs_visible`, `metadata_visible`), and the links
show their versions whatever their status, as the serializer's prefetch does.
Should visibility narrow, these statements must too (a test checks that it has not).

A waiting request (`runs/<id>/wait/`) finds its run with the first of these
statements (by id or name, `waited_run`), which also reads which workers are alive
for its answer: it has the run's status and revision to wait on, and when the run
has finished, the rest of its detail is the other three (`detail_of`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field

from pipelines import access
from pipelines.api.hot_reads import _columns, _fields
from pipelines.api.serializers import VERSION_FIELDS, StepRunSerializer, iso_datetime, run_representation
from pipelines.models import (
    Artifact,
    ArtifactVersion,
    Pipeline,
    PipelineRun,
    RunMetadata,
    StepRun,
    StepRunInput,
    StepRunOutput,
)
from pipelines.selectors import latest_metadata
from pipelines.selectors.api import live_worker_queues_column, live_worker_queues_from, live_worker_queues_since
from pipelines.services import hot_sql

# StepRunSerializer's fields that read related rows; the others are the step's columns.
_RELATED = ("inputs", "outputs", "run_metadata")
STEP_COLUMNS = {
    name: {"pipeline_run": "pipeline_run_id", "cached_from": "cached_from_id"}.get(name, name)
    for name in StepRunSerializer.Meta.fields
    if name not in _RELATED
}
STEP_DATETIMES = tuple(
    name
    for name, column in STEP_COLUMNS.items()
    if StepRun._meta.get_field(column).get_internal_type() == "DateTimeField"
)
# version_representation's fields that are the version's own columns, by attribute.
_VERSION_ATTRIBUTES = {
    name: {"producer_step_run": "producer_step_run_id"}.get(name, name)
    for name in VERSION_FIELDS
    if name not in ("artifact", "run_metadata")
}
# Which link table a row of the links statement comes from, and which object a row of
# the metadata statement belongs to.
_INPUT, _OUTPUT = 0, 1
_OF_RUN, _OF_STEP, _OF_VERSION = 0, 1, 2


class _Metadata(NamedTuple):
    key: str
    value: Any
    type: str


class _Statements(NamedTuple):
    run: str
    waited_by_id: str  # the run by id, after the live workers' queues
    waited_by_name: str  # the same by the run's name
    run_fields: list[Field]
    pipeline_fields: list[Field]
    user_fields: list[Field]
    run_converters: hot_sql.Converters
    steps: str
    step_converters: hot_sql.Converters
    links: str
    link_converters: hot_sql.Converters  # of the row after its first four columns
    metadata: str  # of the run and its steps
    metadata_with_versions: str  # and of the versions its steps' links name
    metadata_converters: hot_sql.Converters  # of the row after its first three columns


@cache
def _statements(vendor: str) -> _Statements:
    quote = connection.ops.quote_name
    user_model = get_user_model()
    run_fields = [field for field in PipelineRun._meta.concrete_fields if field.name != "spec"]
    pipeline_fields = _fields(Pipeline, ("id", "name"))
    user_fields = _fields(user_model, ("id", "username"))
    run_table, step_table = quote(PipelineRun._meta.db_table), quote(StepRun._meta.db_table)
    # S608 (all statements): only quoted table and column names from the models go
    # into the text; every value is a %s parameter.
    # The run with its pipeline's name and its user's.
    run_select = (
        f"{_columns('r', run_fields)}, {_columns('p', pipeline_fields)}, {_columns('u', user_fields)} "
        f"FROM {run_table} r "
        f"INNER JOIN {quote(Pipeline._meta.db_table)} p ON p.{quote('id')} = r.{quote('pipeline_id')} "
        f"LEFT OUTER JOIN {quote(user_model._meta.db_table)} u "
        f"ON u.{quote(user_model._meta.pk.column)} = r.{quote('triggered_by_id')}"
    )
    run_sql = f"SELECT {run_select} WHERE r.{quote('id')} = %s"
    # A waiting request's answer needs which workers are alive too.
    waited_sql = f"SELECT {live_worker_queues_column(vendor)}, {run_select} WHERE r."
    step_fields = [StepRun._meta.get_field(column) for column in STEP_COLUMNS.values()]
    steps_sql = (
        f"SELECT {_columns('s', step_fields)} FROM {step_table} s "  # noqa: S608
        f"WHERE s.{quote('pipeline_run_id')} = %s ORDER BY s.{quote('id')}"
    )
    version_fields = [ArtifactVersion._meta.get_field(name) for name in _VERSION_ATTRIBUTES.values()]
    artifact_name = Artifact._meta.get_field("name")

    def links_of(kind: int, model: type) -> str:
        return (
            f"SELECT {kind}, l.{quote('id')}, l.{quote('step_run_id')}, l.{quote('name')}, "  # noqa: S608
            f"{_columns('v', version_fields)}, a.{quote(artifact_name.column)} "
            f"FROM {quote(model._meta.db_table)} l "
            f"INNER JOIN {step_table} s ON s.{quote('id')} = l.{quote('step_run_id')} "
            f"INNER JOIN {quote(ArtifactVersion._meta.db_table)} v "
            f"ON v.{quote('id')} = l.{quote('artifact_version_id')} "
            f"INNER JOIN {quote(Artifact._meta.db_table)} a ON a.{quote('id')} = v.{quote('artifact_id')} "
            f"WHERE s.{quote('pipeline_run_id')} = %s"
        )

    metadata_fields = _fields(RunMetadata, ("id", "key", "value", "type"))
    metadata_table = quote(RunMetadata._meta.db_table)
    entries = _columns("m", metadata_fields)
    metadata_sql = (
        f"SELECT {_OF_RUN}, m.{quote('pipeline_run_id')}, {entries} FROM {metadata_table} m "  # noqa: S608
        f"WHERE m.{quote('pipeline_run_id')} = %s "
        f"UNION ALL SELECT {_OF_STEP}, m.{quote('step_run_id')}, {entries} FROM {metadata_table} m "
        f"INNER JOIN {step_table} s ON s.{quote('id')} = m.{quote('step_run_id')} "
        f"WHERE s.{quote('pipeline_run_id')} = %s"
    )
    linked_versions = " UNION ".join(
        f"SELECT l.{quote('artifact_version_id')} FROM {quote(model._meta.db_table)} l "  # noqa: S608
        f"INNER JOIN {step_table} s ON s.{quote('id')} = l.{quote('step_run_id')} "
        f"WHERE s.{quote('pipeline_run_id')} = %s"
        for model in (StepRunInput, StepRunOutput)
    )
    with_versions_sql = (
        f"{metadata_sql} UNION ALL SELECT {_OF_VERSION}, m.{quote('artifact_version_id')}, {entries} "  # noqa: S608
        f"FROM {metadata_table} m WHERE m.{quote('artifact_version_id')} IN ({linked_versions})"
    )
    return _Statements(
        run=run_sql,
        waited_by_id=f"{waited_sql}{quote('id')} = %s",
        waited_by_name=f"{waited_sql}{quote('name')} = %s",
        run_fields=run_fields,
        pipeline_fields=pipeline_fields,
        user_fields=user_fields,
        run_converters=hot_sql.converters_for([*run_fields, *pipeline_fields, *user_fields]),
        steps=steps_sql,
        step_converters=hot_sql.converters_for(step_fields),
        links=f"{links_of(_INPUT, StepRunInput)} UNION ALL {links_of(_OUTPUT, StepRunOutput)}",
        link_converters=hot_sql.converters_for([*version_fields, artifact_name]),
        metadata=metadata_sql,
        metadata_with_versions=with_versions_sql,
        metadata_converters=hot_sql.converters_for(metadata_fields),
    )


def run_detail_representation(user: access.User, run_id: int) -> dict[str, Any] | None:
    """What `PipelineRunDetailSerializer(selectors.runs_with_steps(user).get(id=run_id))`
    gives, or None when `user` may not see the run (or it is gone)."""
    if not access.may_read(user):
        return None
    statements = _statements(connection.vendor)
    with hot_sql.hot_cursor() as cursor:
        cursor.execute(statements.run, [run_id])
        row = cursor.fetchone()
    if row is None:
        return None
    return with_steps(run_representation(_run_from_row(statements, row)), run_id)


class WaitedRun(NamedTuple):
    run: PipelineRun  # as `run_detail_representation` reads it: its pipeline and user loaded, its spec deferred
    live_worker_queues: list[list[str]]  # the queues of each live worker


def waited_run(user: access.User, *, run_id: int | None = None, name: str | None = None) -> WaitedRun | None:
    """The run with this id (or else this name) and which workers are alive, in one
    statement, or None when `user` may not see the run (or it is gone): what a
    waiting request (`runs/<id>/wait/`) finds the run by and answers from. Its whole
    detail (`detail_of`) is the last answer; while the run goes on, the answer is its
    status and the workers that may run its queued steps."""
    if not access.may_read(user):
        return None
    statements = _statements(connection.vendor)
    sql, key = (statements.waited_by_id, run_id) if name is None else (statements.waited_by_name, name)
    rows = hot_sql.execute(sql, [live_worker_queues_since(), key])
    if not rows:
        return None
    return WaitedRun(_run_from_row(statements, rows[0][1:]), live_worker_queues_from(rows[0][0]))


def detail_of(run: PipelineRun) -> dict[str, Any]:
    """`run_detail_representation` of a run `waited_run` read (for a user who may see it)."""
    return with_steps(run_representation(run), run.id)


def with_steps(
    data: dict[str, Any], run_id: int, *, read_related: Callable[[list[dict[str, Any]]], bool] | None = None
) -> dict[str, Any]:
    """`data` (a run's `run_representation`, read by a caller that may see it) with
    its `run_metadata` and `steps` as the detail shows them. When `read_related`
    says no of the steps, their links and all metadata are taken to be empty
    (`submission` knows when they are) and only the steps are read."""
    statements = _statements(connection.vendor)
    with hot_sql.hot_cursor() as cursor:
        cursor.execute(statements.steps, [run_id])
        steps = [_step(hot_sql.convert(values, statements.step_converters)) for values in cursor.fetchall()]
        data["run_metadata"] = []
        data["steps"] = steps
        if read_related is not None and not read_related(steps):
            return data
        by_id = {step["id"]: step for step in steps}
        versions = _add_links(statements, cursor, run_id, by_id) if steps else []
        if versions:
            cursor.execute(statements.metadata_with_versions, [run_id, run_id, run_id, run_id])
        else:
            cursor.execute(statements.metadata, [run_id, run_id])
        metadata = cursor.fetchall()
    _add_metadata(statements, metadata, data, by_id, versions)
    return data


def _run_from_row(statements: _Statements, row: Sequence[Any]) -> PipelineRun:
    values = hot_sql.convert(row, statements.run_converters)
    ends = (len(statements.run_fields), len(statements.run_fields) + len(statements.pipeline_fields))
    db = connection.alias
    run = PipelineRun.from_db(db, [field.attname for field in statements.run_fields], values[: ends[0]])
    pipeline_values = values[ends[0] : ends[1]]
    run._state.fields_cache["pipeline"] = Pipeline.from_db(
        db, [field.attname for field in statements.pipeline_fields], pipeline_values
    )
    if run.triggered_by_id is not None:
        user_model = get_user_model()
        user_values = values[ends[1] :]
        run._state.fields_cache["triggered_by"] = user_model.from_db(
            db, [field.attname for field in statements.user_fields], user_values
        )
    return run


def _step(values: list[Any]) -> dict[str, Any]:
    step = dict(zip(STEP_COLUMNS, values, strict=True))
    for name in STEP_DATETIMES:
        step[name] = iso_datetime(step[name])
    step["inputs"], step["outputs"], step["run_metadata"] = {}, {}, []
    return step


def _add_links(
    statements: _Statements, cursor: Any, run_id: int, steps: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Fill each step's `inputs` and `outputs` (link name -> its version's
    representation, in link id order as the prefetch reads them); the versions shown."""
    cursor.execute(statements.links, [run_id, run_id])
    rows = sorted(cursor.fetchall(), key=lambda row: (row[0], row[1]))
    shown = []
    for kind, _, step_id, link_name, *rest in rows:
        values = hot_sql.convert(rest, statements.link_converters)
        found = dict(zip(_VERSION_ATTRIBUTES, values, strict=False))
        found["artifact"] = values[-1]
        found["created_at"] = iso_datetime(found["created_at"])
        found["run_metadata"] = []
        version = {name: found[name] for name in VERSION_FIELDS}  # in the serializer's order
        steps[step_id]["inputs" if kind == _INPUT else "outputs"][link_name] = version
        shown.append(version)
    return shown


def _add_metadata(
    statements: _Statements,
    rows: Sequence[Sequence[Any]],
    run: dict[str, Any],
    steps: dict[int, dict[str, Any]],
    versions: list[dict[str, Any]],
) -> None:
    """The latest entry per key of the run, each step and each version shown."""
    entries: dict[tuple[int, int], list[tuple[int, _Metadata]]] = defaultdict(list)
    for owner_kind, owner_id, *rest in rows:
        entry_id, key, value, kind = hot_sql.convert(rest, statements.metadata_converters)
        entries[owner_kind, owner_id].append((entry_id, _Metadata(key, value, kind)))

    def latest(owner: tuple[int, int]) -> list[dict[str, Any]]:
        found = entries.get(owner)
        # In write (id) order, as the prefetch reads them.
        return latest_metadata(entry for _, entry in sorted(found, key=lambda item: item[0])) if found else []

    run["run_metadata"] = latest((_OF_RUN, run["id"]))
    for step_id, step in steps.items():
        step["run_metadata"] = latest((_OF_STEP, step_id))
    for version in versions:
        version["run_metadata"] = latest((_OF_VERSION, version["id"]))
