"""Reads for the API (and the pages that show the same objects): the visible
querysets of `pipelines.access` with the joins the serializers need."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Prefetch, QuerySet

from pipelines import access
from pipelines.models import (
    ArtifactVersion,
    MLModel,
    ModelVersion,
    ModelVersionArtifact,
    Pipeline,
    PipelineRun,
    StepRun,
    StepRunInput,
    StepRunOutput,
    StepStatus,
    WorkerHeartbeat,
)
from pipelines.services import hot_sql

_LINKS = ("artifact_version__artifact",)
_LINK_METADATA = "artifact_version__metadata"
# A run's columns that can be large: a spec holds every step's definition.
RUN_LARGE_FIELDS = ("spec", "config", "parameters")


def _link_prefetches() -> list[Prefetch]:
    return [
        Prefetch(
            "output_links", queryset=StepRunOutput.objects.select_related(*_LINKS).prefetch_related(_LINK_METADATA)
        ),
        Prefetch("input_links", queryset=StepRunInput.objects.select_related(*_LINKS).prefetch_related(_LINK_METADATA)),
    ]


def pipelines_visible_to(user: access.User) -> QuerySet[Pipeline]:
    return access.pipelines_visible(user)


def runs_visible_to(user: access.User) -> QuerySet[PipelineRun]:
    return access.runs_visible(user).select_related("pipeline", "triggered_by")


def runs_with_steps(user: access.User) -> QuerySet[PipelineRun]:
    steps = StepRun.objects.defer("logs").prefetch_related("metadata", *_link_prefetches())
    return runs_visible_to(user).prefetch_related("metadata", Prefetch("steps", queryset=steps))


def steps_visible_to(user: access.User) -> QuerySet[StepRun]:
    return (
        access.steps_visible(user)
        .select_related("pipeline_run__pipeline")
        .prefetch_related("attempts", "metadata", *_link_prefetches())
    )


def steps_for_list(user: access.User) -> QuerySet[StepRun]:
    """Steps for a list: none of the large columns of the step (logs, spec) or of its run.

    Each row joins its run; loading the run's spec with it made a page of 50 steps of
    a 10,000-step run read 50 copies of that run's whole spec (16 s).
    """
    return (
        access.steps_visible(user)
        .select_related("pipeline_run__pipeline")
        .defer("logs", "spec", *(f"pipeline_run__{name}" for name in RUN_LARGE_FIELDS))
        .prefetch_related("metadata", *_link_prefetches())
    )


def artifact_versions_visible_to(user: access.User) -> QuerySet[ArtifactVersion]:
    """Ready versions only: a pending one is still being written."""
    return access.artifact_versions_visible(user).select_related("artifact").prefetch_related("metadata")


def run_revision(user: access.User, *, run_id: int) -> tuple[int, str] | None:
    """(revision, status) of a run: one indexed read, for long-polling."""
    return access.runs_visible(user).filter(id=run_id).values_list("revision", "status").first()


def run_revision_of_visible(run_id: int) -> tuple[int, str] | None:
    """`run_revision` of a run the caller was already found allowed to read: a waiting
    request asks it up to a hundred times a second, and building the visibility
    filter through the ORM at each ask cost more than the read itself."""
    rows = hot_sql.execute(_revision_statement(connection.vendor), [run_id])
    return (rows[0][0], rows[0][1]) if rows else None


@cache
def _revision_statement(vendor: str) -> str:
    # Prepared on PostgreSQL (`hot_sql`): asked up to a hundred times a second per waiter.
    table = connection.ops.quote_name(PipelineRun._meta.db_table)
    return f"SELECT revision, status FROM {table} WHERE id = %s"  # noqa: S608 (our table name)


def run_step_statuses(run_id: int) -> list[tuple[Any, ...]]:
    """Each step's (name, status, queue), in id order, of a run the caller was already
    found allowed to read (as for `run_revision_of_visible`): what a waiting request
    answers while the run goes on. Plain SQL: the ORM's query cost more to build than
    to run."""
    return hot_sql.execute(_steps_statement(connection.vendor), [run_id])


@cache
def _steps_statement(vendor: str) -> str:
    quote = connection.ops.quote_name
    # S608: only the model's quoted table and column names go into the text.
    return (
        f"SELECT {quote('name')}, {quote('status')}, {quote('queue')} FROM {quote(StepRun._meta.db_table)} "  # noqa: S608
        f"WHERE {quote('pipeline_run_id')} = %s ORDER BY {quote('id')}"
    )


def run_progress(user: access.User, *, run_id: int) -> dict[str, object] | None:
    """Status, revision and step statuses of a run, in two small queries."""
    row = access.runs_visible(user).filter(id=run_id).values("id", "status", "revision", "queue").first()
    if row is None:
        return None
    rows = (
        access.steps_visible(user).filter(pipeline_run_id=run_id).order_by("id").values_list("name", "status", "queue")
    )
    return run_progress_of(row, rows)


def run_progress_of(
    run: dict[str, Any], steps: Any, *, live_worker_queues: list[list[str]] | None = None
) -> dict[str, object]:
    """`run_progress` of a run already read: `run` has its id, status, revision and
    queue, `steps` is each step's (name, status, queue) in id order. Reads which
    workers are alive, unless the caller read that with the run
    (`live_worker_queues`, from a `live_worker_queues_column`)."""
    live = _live_worker_queues() if live_worker_queues is None else live_worker_queues
    waiting = {queue for _, status, queue in steps if status == StepStatus.QUEUED}
    return {
        **run,
        "steps": {name: status for name, status, _ in steps},
        "workers_alive": sum(1 for queues in live if run["queue"] in queues),
        # A queued step waits for a worker of its own queue; a client names these
        # queues when nobody comes.
        "queues_without_workers": sorted(q for q in waiting if not any(q in queues for queues in live)),
    }


def _live_worker_queues() -> list[list[str]]:
    """The queues of each worker that heartbeated recently."""
    return list(WorkerHeartbeat.objects.live().values_list("queues", flat=True))


@cache
def live_worker_queues_column(vendor: str) -> str:
    """`_live_worker_queues` as a column of another plain statement (a scalar subquery
    taking one %s, `live_worker_queues_since()`), so that a read that needs both
    costs one round trip; `live_worker_queues_from` decodes its value. As one JSON
    array of arrays: a worker's queues are a JSON column."""
    quote = connection.ops.quote_name
    queues = f"w.{quote('queues')}"
    # PostgreSQL: as text, decoded once here (psycopg would parse json itself).
    aggregate = f"json_agg({queues})::text" if vendor == "postgresql" else f"json_group_array(json({queues}))"
    # S608: only the model's quoted table and column names go into the text.
    return (
        f"(SELECT {aggregate} FROM {quote(WorkerHeartbeat._meta.db_table)} w "  # noqa: S608
        f"WHERE w.{quote('last_seen_at')} >= %s)"
    )


def live_worker_queues_since() -> Any:
    """The parameter of `live_worker_queues_column`: alive as `WorkerHeartbeat.objects.live()` means it."""
    return hot_sql.db_datetime(WorkerHeartbeat.live_since())


def live_worker_queues_from(value: str | None) -> list[list[str]]:
    """The value of a `live_worker_queues_column` (PostgreSQL's json_agg of no row is NULL)."""
    return json.loads(value) if value else []


def workers_alive(*, queue: str | None = None) -> int:
    """How many workers heartbeated recently and consume `queue` (the step queue by default).

    Not a user's data (the home page and a waiting Client show it): no access check."""
    queue = queue or settings.PIPELINES["QUEUE"]
    return sum(1 for queues in _live_worker_queues() if queue in queues)


def workers_by_queue() -> dict[str, int]:
    """How many live workers consume each queue that any live worker consumes."""
    counts: dict[str, int] = {}
    for queues in _live_worker_queues():
        for queue in set(queues):
            counts[queue] = counts.get(queue, 0) + 1
    return dict(sorted(counts.items()))


def latest_metadata(rows: Any) -> list[dict[str, Any]]:
    """The latest entry per key, from metadata rows in write order (prefetched)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row.key] = {"key": row.key, "value": row.value, "type": row.type}
    return list(latest.values())


def artifacts_visible_to(user: access.User) -> QuerySet:
    return access.artifacts_visible(user)


def models_visible_to(user: access.User) -> QuerySet[MLModel]:
    return access.models_visible(user)


def model_versions_visible_to(user: access.User) -> QuerySet[ModelVersion]:
    links = ModelVersionArtifact.objects.select_related("artifact_version__artifact").prefetch_related(
        "artifact_version__metadata"
    )
    return (
        access.model_versions_visible(user)
        .select_related("model")
        .prefetch_related("metadata", "runs", Prefetch("artifact_links", queryset=links))
    )
