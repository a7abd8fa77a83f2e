"""Reads for the dashboard's pages: lists, detail pages and their live polls.

Each page reads a bounded number of rows in a fixed number of queries, whatever
the size of the tables: counts come from indexed subqueries, big columns (spec,
logs) are deferred, lists are cut by the caller's paginator. Every read starts
from a visible queryset of `pipelines.access` (correlated subqueries are bound to
the visible outer row).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Length, NullIf, Right, StrIndex, Substr

from pipelines import access
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
    StepStatus,
)
from pipelines.selectors.api import (
    RUN_LARGE_FIELDS,
    artifact_versions_visible_to,
    artifacts_visible_to,
    models_visible_to,
    pipelines_visible_to,
    runs_visible_to,
    steps_visible_to,
)


def _ready_versions_of_outer() -> QuerySet[ArtifactVersion]:
    return ArtifactVersion.objects.filter(artifact=OuterRef("pk"), status=ArtifactVersionStatus.READY)


def artifacts_with_summary(user: access.User) -> QuerySet[Artifact]:
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


def artifact_versions_of(user: access.User, *, artifact_id: int) -> QuerySet[ArtifactVersion]:
    """The ready versions of one artifact, with the step and run that produced each."""
    return (
        access.artifact_versions_visible(user)
        .filter(artifact_id=artifact_id)
        .select_related("artifact", "producer_step_run__pipeline_run")
    )


def artifact_version_for_page(user: access.User) -> QuerySet[ArtifactVersion]:
    """Ready versions with what their page shows: metadata, producer step and run."""
    return artifact_versions_visible_to(user).select_related("producer_step_run__pipeline_run")


def artifact_version_consumers(user: access.User, *, version_id: int) -> QuerySet[StepRunInput]:
    """The step runs that took a version as an input."""
    return (
        access.step_inputs_visible(user).filter(artifact_version_id=version_id).select_related("step_run__pipeline_run")
    )


def models_with_summary(user: access.User) -> QuerySet[MLModel]:
    """Models with their number of versions and the newest one (see artifacts_with_summary)."""
    versions = ModelVersion.objects.filter(model=OuterRef("pk"))
    newest = versions.order_by("-number")
    count = versions.order_by().values("model").annotate(n=Count("id")).values("n")
    return models_visible_to(user).annotate(
        version_count=Coalesce(Subquery(count), 0),
        latest_version=Subquery(newest.values("name")[:1]),
        latest_version_id=Subquery(newest.values("id")[:1]),
    )


def model_versions_of(user: access.User, *, model_id: int) -> QuerySet[ModelVersion]:
    """The versions of one model, each with its number of runs."""
    runs = PipelineRun.objects.filter(model_version=OuterRef("pk")).order_by().values("model_version")
    return (
        access.model_versions_visible(user)
        .filter(model_id=model_id)
        .annotate(run_count=Coalesce(Subquery(runs.annotate(n=Count("id")).values("n")), 0))
    )


def model_version_for_page(user: access.User) -> QuerySet[ModelVersion]:
    """Model versions with their metadata and linked artifact versions (runs are paged apart)."""
    links = ModelVersionArtifact.objects.select_related("artifact_version__artifact").order_by("kind", "id")
    return (
        access.model_versions_visible(user)
        .select_related("model")
        .prefetch_related("metadata", Prefetch("artifact_links", queryset=links))
    )


def model_version_runs(user: access.User, *, version_id: int) -> QuerySet[PipelineRun]:
    return runs_visible_to(user).filter(model_version_id=version_id)


ACTIVE_RUN_STATUSES = (RunStatus.INITIALIZING, RunStatus.RUNNING, RunStatus.STOPPING)
STEP_PHASE_FIELDS = ("queued_at", "started_at", "user_code_started_at", "user_code_finished_at", "finished_at")
_RUN_LIST_DEFERRED = RUN_LARGE_FIELDS


def pipelines_with_stats(user: access.User) -> QuerySet[Pipeline]:
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


def pipeline_latest_runs(user: access.User, *, pipeline_ids: list[int]) -> dict[int, PipelineRun]:
    """The newest run of each pipeline (by pipeline id), in one query: an index
    lookup per pipeline on (pipeline, -created_at)."""
    newest = PipelineRun.objects.filter(pipeline=OuterRef("pk")).order_by("-created_at", "-id").values("id")[:1]
    ids = pipelines_visible_to(user).filter(id__in=pipeline_ids).annotate(run_id=Subquery(newest)).values("run_id")
    runs = runs_visible_to(user).select_related(None).filter(id__in=ids).only("id", "pipeline_id", "name", "status")
    return {run.pipeline_id: run for run in runs}


def runs_for_list(user: access.User) -> QuerySet[PipelineRun]:
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
    user: access.User,
    *,
    pipeline_id: int | None = None,
    statuses: list[str] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    name: str = "",
    metadata_key: str = "",
    metadata_value: str | None = None,
    tag: str = "",
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
    if tag:
        runs = _with_tag(runs, tag)
    if metadata_key:
        entries = RunMetadata.objects.filter(key=metadata_key, pipeline_run=OuterRef("pk"))
        if metadata_value is not None and metadata_value != "":
            matches = Q()
            for candidate in metadata_value_candidates(metadata_value):
                matches |= Q(value=candidate)
            entries = entries.filter(matches)
        runs = runs.filter(Exists(entries))
    return runs


def _with_tag(runs: QuerySet[PipelineRun], tag: str) -> QuerySet[PipelineRun]:
    """Runs whose tags hold exactly `tag` (as the API's `?tag=`)."""
    if connection.vendor == "postgresql":
        return runs.filter(tags__contains=[tag])
    # SQLite: no JSON containment in the ORM; find the tag as JSON wrote it, case and all.
    at = StrIndex(Cast("tags", TextField()), Value(json.dumps(tag)))
    return runs.annotate(_tag_at=at).filter(_tag_at__gt=0)


def with_tag(queryset: QuerySet[Any], tag: str) -> QuerySet[Any]:
    """Rows of any model with a `tags` list (artifacts, models...) that hold exactly `tag`."""
    return _with_tag(queryset, tag)


def runs_active(user: access.User) -> QuerySet[PipelineRun]:
    return runs_for_list(user).filter(status__in=ACTIVE_RUN_STATUSES)


def runs_failed(user: access.User) -> QuerySet[PipelineRun]:
    return runs_for_list(user).filter(status=RunStatus.FAILED)


def run_counts_by_status(user: access.User) -> dict[str, int]:
    """How many runs are in each status (every status present, zero included)."""
    counts = dict.fromkeys(RunStatus.values, 0)
    rows = runs_visible_to(user).order_by().values_list("status").annotate(n=Count("id"))
    counts.update(dict(rows))
    return counts


def dashboard_totals(user: access.User) -> dict[str, int]:
    """How many pipelines, artifacts and models there are."""
    return {
        "pipelines": pipelines_visible_to(user).count(),
        "artifacts": artifacts_visible_to(user).count(),
        "models": models_visible_to(user).count(),
    }


def model_versions_recent(user: access.User) -> QuerySet[ModelVersion]:
    return access.model_versions_visible(user).select_related("model").order_by("-id")


def run_for_page(user: access.User, *, run_id: int) -> PipelineRun | None:
    """A run with what its page shows beside the steps: pipeline, user, model
    version and its own metadata (in write order, for `latest_metadata`)."""
    return (
        runs_visible_to(user)
        .select_related("model_version__model")
        .prefetch_related(Prefetch("metadata", queryset=RunMetadata.objects.order_by("id")))
        .filter(id=run_id)
        .first()
    )


def run_step_rows(user: access.User, *, run_id: int) -> list[dict[str, Any]]:
    """Every step of a run as plain values: id, name, status, attempt, queue, worker
    and phase timestamps (no spec, no logs), in creation order."""
    return list(
        access.steps_visible(user)
        .filter(pipeline_run_id=run_id)
        .order_by("id")
        .values("id", "name", "status", "attempt", "cache_key", "cached_from_id", "queue", "worker", *STEP_PHASE_FIELDS)
    )


def run_outputs(user: access.User, *, run_id: int) -> QuerySet[StepRunOutput]:
    """The artifact versions a run's steps produced or reused, with step and artifact."""
    return (
        access.step_outputs_visible(user)
        .filter(step_run__pipeline_run_id=run_id)
        .select_related("artifact_version__artifact")
        .annotate(step_name=F("step_run__name"))
        .order_by("step_run_id", "name")
    )


def run_live_state(user: access.User, *, run_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(run status and revision, step rows) for the run page's live poll."""
    row = runs_visible_to(user).filter(id=run_id).values("id", "status", "revision", "finished_at").first()
    if row is None:
        return None
    return row, run_step_rows(user, run_id=run_id)


@dataclass(frozen=True)
class CachedSources:
    count: int  # the run's cached steps
    # The runs they reused outputs from, in the order first met: `{"run_id",
    # "run_name", "steps": [{"id", "name"}]}`; a source run since deleted has run_id None.
    runs: list[dict[str, Any]]


def run_cached_sources(user: access.User, *, step_rows: list[dict[str, Any]]) -> CachedSources:
    """A run's cached steps grouped by the run whose outputs they reused, from its
    step rows (`run_step_rows`): no query when no step is cached, else one."""
    cached = [row for row in step_rows if row["status"] == StepStatus.CACHED]
    if not cached:
        return CachedSources(count=0, runs=[])
    source_runs = {
        row["id"]: (row["pipeline_run_id"], row["pipeline_run__name"])
        for row in access.steps_visible(user)
        .filter(id__in=[row["cached_from_id"] for row in cached if row["cached_from_id"]])
        .values("id", "pipeline_run_id", "pipeline_run__name")
    }
    sources: dict[int | None, dict[str, Any]] = {}
    for row in cached:
        # A source step deleted with its run leaves cached_from empty (SET_NULL).
        run_id, run_name = source_runs.get(row["cached_from_id"], (None, ""))
        group = sources.setdefault(run_id, {"run_id": run_id, "run_name": run_name, "steps": []})
        group["steps"].append({"id": row["id"], "name": row["name"]})
    return CachedSources(count=len(cached), runs=list(sources.values()))


def pipeline_latest_run(user: access.User, *, pipeline_id: int) -> PipelineRun | None:
    """The newest run of a pipeline, with its spec (for drawing its DAG)."""
    return (
        access.runs_visible(user)
        .filter(pipeline_id=pipeline_id)
        .only("id", "name", "status", "spec", "created_at", "pipeline_id")
        .order_by("-created_at", "-id")
        .first()
    )


def pipeline_duration_trend(user: access.User, *, pipeline_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The latest `limit` finished runs of a pipeline, oldest first: id, name,
    status, created_at, duration in seconds (start, or creation, to finish)."""
    rows = list(
        access.runs_visible(user)
        .filter(pipeline_id=pipeline_id, status__in=FINISHED_RUN_STATUSES)
        .order_by("-created_at", "-id")
        .values("id", "name", "status", "created_at", "started_at", "finished_at")[:limit]
    )
    for row in rows:
        start = row.pop("started_at") or row["created_at"]
        finish = row.pop("finished_at")
        row["duration"] = (finish - start).total_seconds() if finish else None
    return rows[::-1]


STEP_LOG_TAIL_CHARS = 200_000


def step_for_page(user: access.User, *, step_id: int) -> StepRun | None:
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


def step_log_since(user: access.User, *, step_id: int, offset: int) -> dict[str, Any] | None:
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
        row["text"] = access.steps_visible(user).values_list("logs", flat=True).get(id=step_id)
    return row
