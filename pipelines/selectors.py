"""Reads for the API and the dashboard, with the joins their callers need.

Every authenticated user of an installation sees every pipeline and run (one team
per installation, as in ZenML's open-source server); this is the one place to
narrow that.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, Exists, F, FloatField, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Length, NullIf, Right, Substr
from django.utils import timezone

from pipelines.models import (
    FINISHED_RUN_STATUSES,
    Artifact,
    ArtifactVersion,
    ArtifactVersionStatus,
    MLModel,
    ModelVersion,
    ModelVersionArtifact,
    Pipeline,
    PipelineRun,
    RunMetadata,
    RunStatus,
    StepRun,
    StepRunInput,
    StepRunOutput,
    WorkerHeartbeat,
)

_LINKS = ("artifact_version__artifact",)
_LINK_METADATA = "artifact_version__metadata"


def _link_prefetches() -> list[Prefetch]:
    return [
        Prefetch(
            "output_links", queryset=StepRunOutput.objects.select_related(*_LINKS).prefetch_related(_LINK_METADATA)
        ),
        Prefetch("input_links", queryset=StepRunInput.objects.select_related(*_LINKS).prefetch_related(_LINK_METADATA)),
    ]


def pipelines_visible_to(user: AbstractBaseUser) -> QuerySet[Pipeline]:
    return Pipeline.objects.all()


def runs_visible_to(user: AbstractBaseUser) -> QuerySet[PipelineRun]:
    return PipelineRun.objects.select_related("pipeline", "triggered_by")


def runs_with_steps(user: AbstractBaseUser) -> QuerySet[PipelineRun]:
    steps = StepRun.objects.defer("logs").prefetch_related("metadata", *_link_prefetches())
    return runs_visible_to(user).prefetch_related("metadata", Prefetch("steps", queryset=steps))


def steps_visible_to(user: AbstractBaseUser) -> QuerySet[StepRun]:
    return StepRun.objects.select_related("pipeline_run__pipeline").prefetch_related(
        "attempts", "metadata", *_link_prefetches()
    )


def artifact_versions_visible_to(user: AbstractBaseUser) -> QuerySet[ArtifactVersion]:
    """Ready versions only: a pending one is still being written."""
    return (
        ArtifactVersion.objects.filter(status=ArtifactVersionStatus.READY)
        .select_related("artifact")
        .prefetch_related("metadata")
    )


def run_revision(*, run_id: int) -> tuple[int, str] | None:
    """(revision, status) of a run: one indexed read, for long-polling."""
    return PipelineRun.objects.filter(id=run_id).values_list("revision", "status").first()


def run_progress(*, run_id: int) -> dict[str, object] | None:
    """Status, revision and step statuses of a run, in two small queries."""
    row = PipelineRun.objects.filter(id=run_id).values("id", "status", "revision", "queue").first()
    if row is None:
        return None
    steps = dict(StepRun.objects.filter(pipeline_run_id=run_id).order_by("id").values_list("name", "status"))
    return {**row, "steps": steps, "workers_alive": workers_alive(queue=row["queue"])}


def workers_alive(*, queue: str | None = None) -> int:
    """How many workers heartbeated recently and consume `queue` (the step queue by default)."""
    queue = queue or settings.PIPELINES["QUEUE"]
    since = timezone.now() - timedelta(seconds=settings.PIPELINES["WORKER_TIMEOUT"])
    hostnames = WorkerHeartbeat.objects.filter(last_seen_at__gte=since).values_list("queues", flat=True)
    return sum(1 for queues in hostnames if queue in queues)


def latest_metadata(rows: Any) -> list[dict[str, Any]]:
    """The latest entry per key, from metadata rows in write order (prefetched)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row.key] = {"key": row.key, "value": row.value, "type": row.type}
    return list(latest.values())


def models_visible_to(user: AbstractBaseUser) -> QuerySet[MLModel]:
    return MLModel.objects.all()


def model_versions_visible_to(user: AbstractBaseUser) -> QuerySet[ModelVersion]:
    links = ModelVersionArtifact.objects.select_related("artifact_version__artifact").prefetch_related(
        "artifact_version__metadata"
    )
    return ModelVersion.objects.select_related("model").prefetch_related(
        "metadata", "runs", Prefetch("artifact_links", queryset=links)
    )


# --- Dashboard: artifacts, models, comparing runs and exploring metadata ---------

# Metadata types a chart can plot (bool is JSON-numeric in Python but not a measure).
NUMERIC_METADATA_TYPES = ("int", "float", "StorageSize")
# An artifact's chart shows the newest versions only.
ARTIFACT_SERIES_LIMIT = 1000

# The metadata explorer's targets: public name -> the RunMetadata foreign key.
METADATA_TARGETS = {
    "run": "pipeline_run",
    "model_version": "model_version",
    "step_run": "step_run",
    "artifact_version": "artifact_version",
}


def _ready_versions_of_outer() -> QuerySet[ArtifactVersion]:
    return ArtifactVersion.objects.filter(artifact=OuterRef("pk"), status=ArtifactVersionStatus.READY)


def artifacts_visible_to(user: AbstractBaseUser) -> QuerySet[Artifact]:
    return Artifact.objects.all()


def artifacts_with_summary(user: AbstractBaseUser) -> QuerySet[Artifact]:
    """Artifacts with their count of ready versions and their newest one.

    Correlated subqueries rather than a join and GROUP BY: the database evaluates them
    for the rows of one page only, whatever the number of versions.
    """
    ready = _ready_versions_of_outer()
    newest = ready.order_by("-id")
    count = ready.order_by().values("artifact").annotate(n=Count("id")).values("n")
    return artifacts_visible_to(user).annotate(
        version_count=Coalesce(Subquery(count), 0),
        latest_version=Subquery(newest.values("version")[:1]),
        latest_version_id=Subquery(newest.values("id")[:1]),
        latest_created_at=Subquery(newest.values("created_at")[:1]),
    )


def artifact_versions_of(user: AbstractBaseUser, *, artifact_id: int) -> QuerySet[ArtifactVersion]:
    """The ready versions of one artifact, with the step and run that produced each."""
    return ArtifactVersion.objects.filter(artifact_id=artifact_id, status=ArtifactVersionStatus.READY).select_related(
        "artifact", "producer_step_run__pipeline_run"
    )


def artifact_version_for_page(user: AbstractBaseUser) -> QuerySet[ArtifactVersion]:
    """Ready versions with what their page shows: metadata, producer step and run."""
    return artifact_versions_visible_to(user).select_related("producer_step_run__pipeline_run")


def artifact_version_consumers(user: AbstractBaseUser, *, version_id: int) -> QuerySet[StepRunInput]:
    """The step runs that took a version as an input."""
    return StepRunInput.objects.filter(artifact_version_id=version_id).select_related("step_run__pipeline_run")


@dataclass(frozen=True)
class ArtifactChart:
    keys: list[str]  # numeric metadata keys on the charted versions, in name order
    key: str  # the one charted ("" when there is none)
    points: list[dict[str, Any]]  # {"version_id", "version", "value"}, oldest version first


def artifact_metadata_chart(
    user: AbstractBaseUser, *, artifact_id: int, key: str, limit: int = ARTIFACT_SERIES_LIMIT
) -> ArtifactChart:
    """One numeric metadata key across the newest `limit` ready versions of an artifact.

    `key` falls back to the first numeric key when the versions have no such key.
    The versions' ids come first (an index-only scan), so the metadata is then read
    by its artifact-version index for those versions only, rather than joined.
    """
    versions = dict(
        ArtifactVersion.objects.filter(artifact_id=artifact_id, status=ArtifactVersionStatus.READY)
        .order_by("-id")
        .values_list("id", "version")[:limit]
    )
    if not versions:
        return ArtifactChart(keys=[], key="", points=[])
    on_versions = RunMetadata.objects.filter(
        artifact_version_id__in=_many_ids(list(versions)), type__in=NUMERIC_METADATA_TYPES
    )
    keys = list(on_versions.order_by("key").values_list("key", flat=True).distinct()[:200])
    if key not in keys:
        key = keys[0] if keys else ""
    if not key:
        return ArtifactChart(keys=keys, key="", points=[])
    latest: dict[int, float] = {}
    # A key logged twice on a version: the newest write wins, and rows come newest first.
    for version_id, raw in on_versions.filter(key=key).order_by("-id").values_list("artifact_version_id", "value"):
        value = _finite_number(raw)
        if value is not None and version_id not in latest:
            latest[version_id] = value
    points = [
        {"version_id": version_id, "version": versions[version_id], "value": value}
        for version_id, value in sorted(latest.items())
    ]
    return ArtifactChart(keys=keys, key=key, points=points)


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def models_with_summary(user: AbstractBaseUser) -> QuerySet[MLModel]:
    """Models with their number of versions and the newest one (see artifacts_with_summary)."""
    versions = ModelVersion.objects.filter(model=OuterRef("pk"))
    newest = versions.order_by("-number")
    count = versions.order_by().values("model").annotate(n=Count("id")).values("n")
    return models_visible_to(user).annotate(
        version_count=Coalesce(Subquery(count), 0),
        latest_version=Subquery(newest.values("name")[:1]),
        latest_version_id=Subquery(newest.values("id")[:1]),
    )


def model_versions_of(user: AbstractBaseUser, *, model_id: int) -> QuerySet[ModelVersion]:
    """The versions of one model, each with its number of runs."""
    runs = PipelineRun.objects.filter(model_version=OuterRef("pk")).order_by().values("model_version")
    return ModelVersion.objects.filter(model_id=model_id).annotate(
        run_count=Coalesce(Subquery(runs.annotate(n=Count("id")).values("n")), 0)
    )


def model_version_for_page(user: AbstractBaseUser) -> QuerySet[ModelVersion]:
    """Model versions with their metadata and linked artifact versions (runs are paged apart)."""
    links = ModelVersionArtifact.objects.select_related("artifact_version__artifact").order_by("kind", "id")
    return ModelVersion.objects.select_related("model").prefetch_related(
        "metadata", Prefetch("artifact_links", queryset=links)
    )


def model_version_runs(user: AbstractBaseUser, *, version_id: int) -> QuerySet[PipelineRun]:
    return runs_visible_to(user).filter(model_version_id=version_id)


def runs_for_compare(user: AbstractBaseUser, *, run_ids: list[int]) -> QuerySet[PipelineRun]:
    """Runs with their metadata, steps and each step's outputs: four queries for any number."""
    outputs = StepRunOutput.objects.select_related("artifact_version__artifact").order_by("name")
    # Only what the comparison shows: a run's steps are many, and their big columns unused.
    steps = StepRun.objects.only("id", "pipeline_run_id", "name", "status", "started_at", "finished_at")
    steps = steps.prefetch_related(Prefetch("output_links", queryset=outputs))
    return (
        runs_visible_to(user)
        .filter(id__in=run_ids)
        .defer("spec", "config")
        .prefetch_related("metadata", Prefetch("steps", queryset=steps))
    )


def numeric_metadata_keys(user: AbstractBaseUser, *, limit: int = 500) -> list[str]:
    """Distinct keys that have numeric values, in name order.

    A plain DISTINCT reads every row's index entry (100,000 rows: tens of ms); this
    recursive query jumps from one key to the next along the (key, type) index, so it
    costs one index probe per distinct key, which are few.
    """
    table = connection.ops.quote_name(RunMetadata._meta.db_table)
    types = ", ".join(["%s"] * len(NUMERIC_METADATA_TYPES))
    sql = f"""
        WITH RECURSIVE keys(key) AS (
            SELECT MIN(key) FROM {table} WHERE type IN ({types})
            UNION ALL
            SELECT (SELECT MIN(m.key) FROM {table} m WHERE m.type IN ({types}) AND m.key > keys.key)
            FROM keys WHERE keys.key IS NOT NULL
        )
        SELECT key FROM keys WHERE key IS NOT NULL LIMIT %s
    """  # noqa: S608 (only the table name and placeholders are formatted in)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*NUMERIC_METADATA_TYPES, *NUMERIC_METADATA_TYPES, limit])
        return [row[0] for row in cursor.fetchall()]


def metadata_points(user: AbstractBaseUser, *, key: str, target: str, limit: int = 2000) -> list[dict[str, Any]]:
    """The newest numeric values of `key` on one kind of target (at most `limit`), newest first.

    One point per target object: when a key was logged twice on a run, the latest
    value is the run's value. Two queries: the values, read backwards along the
    target's partial (key, id) index with no join, then the names of their targets.
    """
    field = METADATA_TARGETS[target]
    rows = (
        RunMetadata.objects.filter(key=key, type__in=NUMERIC_METADATA_TYPES, **{f"{field}__isnull": False})
        .order_by("-id")
        .values_list(f"{field}_id", "value", "created_at")[:limit]
    )
    points: dict[int, dict[str, Any]] = {}
    for target_id, raw, created_at in rows:
        value = _finite_number(raw)
        if value is not None and target_id not in points:
            points[target_id] = {"target_id": target_id, "value": value, "time": created_at}
    names = _target_names(field, list(points))
    return [{**point, "names": names[point["target_id"]]} for point in points.values() if point["target_id"] in names]


def _target_names(field: str, ids: list[int]) -> dict[int, list[str]]:
    """What labels a metadata target: a run's name, a model's and version's names, ..."""
    if not ids:
        return {}
    wanted = _many_ids(ids)
    if field == "pipeline_run":
        rows = PipelineRun.objects.filter(id__in=wanted).values_list("id", "name")
    elif field == "step_run":
        rows = StepRun.objects.filter(id__in=wanted).values_list("id", "name", "pipeline_run__name")
    elif field == "model_version":
        rows = ModelVersion.objects.filter(id__in=wanted).values_list("id", "model__name", "name")
    else:
        # Pending versions are invisible, so their points are left out.
        rows = ArtifactVersion.objects.filter(id__in=wanted, status=ArtifactVersionStatus.READY).values_list(
            "id", "artifact__name", "version"
        )
    return {row[0]: list(row[1:]) for row in rows}


def _many_ids(ids: list[int]) -> Any:
    """A right-hand side for `id__in` with thousands of ids.

    On PostgreSQL one array parameter (unnest) instead of one parameter per id: binding
    2,000 parameters costs more than the query itself.
    """
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [ids])
    return ids


# --- the dashboard's pages ---------------------------------------------------------
# Each page reads a bounded number of rows in a fixed number of queries, whatever
# the size of the tables: counts come from indexed subqueries, big columns (spec,
# logs) are deferred, lists are cut by the caller's paginator.

ACTIVE_RUN_STATUSES = (RunStatus.INITIALIZING, RunStatus.RUNNING, RunStatus.STOPPING)
STEP_PHASE_FIELDS = ("queued_at", "started_at", "user_code_started_at", "user_code_finished_at", "finished_at")
_RUN_LIST_DEFERRED = ("spec", "config", "parameters")


def pipelines_with_stats(user: AbstractBaseUser) -> QuerySet[Pipeline]:
    """Pipelines with their run counts, success rate (completed / finished, None
    before any run finished) and the time of their latest run.

    One pass over the runs, grouped by pipeline: cheaper than correlated counts per
    pipeline, and every figure can be sorted on. `pipeline_latest_runs` gives the
    latest runs themselves for one page of pipelines.
    """
    completed = Count("runs", filter=Q(runs__status=RunStatus.COMPLETED))
    finished = Count("runs", filter=Q(runs__status__in=FINISHED_RUN_STATUSES))
    return pipelines_visible_to(user).annotate(
        run_count=Count("runs"),
        completed_count=completed,
        finished_count=finished,
        success_rate=Cast(completed, FloatField()) / NullIf(finished, 0),
        last_run_created_at=Max("runs__created_at"),
    )


def pipeline_latest_runs(user: AbstractBaseUser, *, pipeline_ids: list[int]) -> dict[int, PipelineRun]:
    """The newest run of each pipeline (by pipeline id), in one query: an index
    lookup per pipeline on (pipeline, -created_at)."""
    newest = PipelineRun.objects.filter(pipeline=OuterRef("pk")).order_by("-created_at", "-id").values("id")[:1]
    ids = Pipeline.objects.filter(id__in=pipeline_ids).annotate(run_id=Subquery(newest)).values("run_id")
    runs = runs_visible_to(user).select_related(None).filter(id__in=ids).only("id", "pipeline_id", "name", "status")
    return {run.pipeline_id: run for run in runs}


def runs_for_list(user: AbstractBaseUser) -> QuerySet[PipelineRun]:
    """Runs for a list page: no spec, config or parameters (they can be large)."""
    return runs_visible_to(user).defer(*_RUN_LIST_DEFERRED)


def metadata_value_candidates(text: str) -> list[Any]:
    """What a metadata value typed in a filter may equal: the text read as JSON
    (`0.9`, `true`, `"a b"`, `[1, 2]`) and the text itself as a JSON string, so
    both `accuracy=0.9` (a number) and `model=resnet` (a string) match."""
    candidates: list[Any] = [text]
    try:
        parsed = json.loads(text)
    except ValueError:
        return candidates
    if parsed != text:
        candidates.insert(0, parsed)
    return candidates


def runs_filtered(
    user: AbstractBaseUser,
    *,
    pipeline_id: int | None = None,
    statuses: list[str] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    name: str = "",
    metadata_key: str = "",
    metadata_value: str | None = None,
) -> QuerySet[PipelineRun]:
    """The runs list with its filters. A metadata filter matches a run on which the
    key was ever logged (with `metadata_value`: logged with that value, compared
    as in `metadata_value_candidates`)."""
    runs = runs_for_list(user)
    if pipeline_id is not None:
        runs = runs.filter(pipeline_id=pipeline_id)
    if statuses:
        runs = runs.filter(status__in=statuses)
    if created_after is not None:
        runs = runs.filter(created_at__gte=created_after)
    if created_before is not None:
        runs = runs.filter(created_at__lt=created_before)
    if name:
        runs = runs.filter(name__icontains=name)
    if metadata_key:
        entries = RunMetadata.objects.filter(key=metadata_key, pipeline_run=OuterRef("pk"))
        if metadata_value is not None and metadata_value != "":
            matches = Q()
            for candidate in metadata_value_candidates(metadata_value):
                matches |= Q(value=candidate)
            entries = entries.filter(matches)
        runs = runs.filter(Exists(entries))
    return runs


def runs_active(user: AbstractBaseUser) -> QuerySet[PipelineRun]:
    return runs_for_list(user).filter(status__in=ACTIVE_RUN_STATUSES)


def runs_failed(user: AbstractBaseUser) -> QuerySet[PipelineRun]:
    return runs_for_list(user).filter(status=RunStatus.FAILED)


def run_counts_by_status(user: AbstractBaseUser) -> dict[str, int]:
    """How many runs are in each status (every status present, zero included)."""
    counts = dict.fromkeys(RunStatus.values, 0)
    rows = runs_visible_to(user).order_by().values_list("status").annotate(n=Count("id"))
    counts.update(dict(rows))
    return counts


def dashboard_totals(user: AbstractBaseUser) -> dict[str, int]:
    """How many pipelines, artifacts and models there are."""
    return {
        "pipelines": pipelines_visible_to(user).count(),
        "artifacts": Artifact.objects.count(),
        "models": models_visible_to(user).count(),
    }


def model_versions_recent(user: AbstractBaseUser) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("model").order_by("-id")


def run_for_page(user: AbstractBaseUser, *, run_id: int) -> PipelineRun | None:
    """A run with what its page shows beside the steps: pipeline, user, model
    version and its own metadata (in write order, for `latest_metadata`)."""
    return (
        runs_visible_to(user)
        .select_related("model_version__model")
        .prefetch_related(Prefetch("metadata", queryset=RunMetadata.objects.order_by("id")))
        .filter(id=run_id)
        .first()
    )


def run_step_rows(*, run_id: int) -> list[dict[str, Any]]:
    """Every step of a run as plain values: id, name, status, attempt and phase
    timestamps (no spec, no logs), in creation order."""
    return list(
        StepRun.objects.filter(pipeline_run_id=run_id)
        .order_by("id")
        .values("id", "name", "status", "attempt", "cache_key", "cached_from_id", *STEP_PHASE_FIELDS)
    )


def run_outputs(*, run_id: int) -> QuerySet[StepRunOutput]:
    """The artifact versions a run's steps produced or reused, with step and artifact."""
    return (
        StepRunOutput.objects.filter(step_run__pipeline_run_id=run_id)
        .select_related("artifact_version__artifact")
        .annotate(step_name=F("step_run__name"))
        .order_by("step_run_id", "name")
    )


def run_live_state(user: AbstractBaseUser, *, run_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(run status and revision, step rows) for the run page's live poll."""
    row = runs_visible_to(user).filter(id=run_id).values("id", "status", "revision", "finished_at").first()
    if row is None:
        return None
    return row, run_step_rows(run_id=run_id)


def pipeline_latest_run(*, pipeline_id: int) -> PipelineRun | None:
    """The newest run of a pipeline, with its spec (for drawing its DAG)."""
    return (
        PipelineRun.objects.filter(pipeline_id=pipeline_id)
        .only("id", "name", "status", "spec", "created_at", "pipeline_id")
        .order_by("-created_at", "-id")
        .first()
    )


def pipeline_duration_trend(*, pipeline_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The latest `limit` finished runs of a pipeline, oldest first: id, name,
    status, created_at, duration in seconds (start, or creation, to finish)."""
    rows = list(
        PipelineRun.objects.filter(pipeline_id=pipeline_id, status__in=FINISHED_RUN_STATUSES)
        .order_by("-created_at", "-id")
        .values("id", "name", "status", "created_at", "started_at", "finished_at")[:limit]
    )
    for row in rows:
        start = row.pop("started_at") or row["created_at"]
        finish = row.pop("finished_at")
        row["duration"] = (finish - start).total_seconds() if finish else None
    return rows[::-1]


STEP_LOG_TAIL_CHARS = 200_000


def step_for_page(user: AbstractBaseUser, *, step_id: int) -> StepRun | None:
    """A step run with everything its page shows, and only the last
    STEP_LOG_TAIL_CHARS characters of its log (`log_tail`, `log_length`)."""
    input_links = StepRunInput.objects.select_related(
        "artifact_version__artifact", "artifact_version__producer_step_run"
    ).only(
        "id",
        "name",
        "step_run_id",
        "artifact_version__id",
        "artifact_version__version",
        "artifact_version__checksum",
        "artifact_version__artifact__id",
        "artifact_version__artifact__name",
        "artifact_version__producer_step_run__id",
        "artifact_version__producer_step_run__name",
    )
    output_links = StepRunOutput.objects.select_related("artifact_version__artifact")
    return (
        steps_visible_to(user)
        .prefetch_related(None)
        .select_related("cached_from__pipeline_run")
        .defer(
            "logs", "pipeline_run__spec", "cached_from__logs", "cached_from__spec", "cached_from__pipeline_run__spec"
        )
        .annotate(log_length=Length("logs"), log_tail=Right("logs", STEP_LOG_TAIL_CHARS))
        .prefetch_related(
            "attempts",
            Prefetch("metadata", queryset=RunMetadata.objects.order_by("id")),
            Prefetch("input_links", queryset=input_links.order_by("name")),
            Prefetch("output_links", queryset=output_links.order_by("name")),
        )
        .filter(id=step_id)
        .first()
    )


def step_log_since(user: AbstractBaseUser, *, step_id: int, offset: int) -> dict[str, Any] | None:
    """The log text after character `offset` (all of it when the log got shorter
    than `offset`), the new offset and the step's status, in one query."""
    row = (
        steps_visible_to(user)
        .prefetch_related(None)
        .filter(id=step_id)
        .annotate(log_length=Length("logs"), text=Substr("logs", max(offset, 0) + 1))
        .values("status", "log_length", "text")
        .first()
    )
    if row is None:
        return None
    if row["log_length"] < offset:
        row["text"] = StepRun.objects.values_list("logs", flat=True).get(id=step_id)
    return row
