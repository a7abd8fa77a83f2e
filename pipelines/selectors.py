"""Reads for the API and the dashboard, with the joins their callers need.

Every authenticated user of an installation sees every pipeline and run (one team
per installation, as in ZenML's open-source server); this is the one place to
narrow that.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from pipelines.models import (
    ArtifactVersion,
    ArtifactVersionStatus,
    MLModel,
    ModelVersion,
    ModelVersionArtifact,
    Pipeline,
    PipelineRun,
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
