"""Reads of stored pipeline versions and the run requests made from them."""

from __future__ import annotations

from django.db.models import QuerySet

from pipelines import access
from pipelines.models import PipelineVersion, RunRequest


def pipeline_versions_visible_to(user: access.User, *, pipeline_id: int) -> QuerySet[PipelineVersion]:
    """A pipeline's versions, newest first (visible as the pipeline is)."""
    return PipelineVersion.objects.filter(
        pipeline__in=access.pipelines_visible(user), pipeline_id=pipeline_id
    ).order_by("-number")


def pipeline_version_for_trigger(user: access.User, *, pipeline_id: int, number: int | None) -> PipelineVersion | None:
    """The version a new run starts from: `number`, else the newest."""
    versions = pipeline_versions_visible_to(user, pipeline_id=pipeline_id).select_related("pipeline")
    return versions.filter(number=number).first() if number is not None else versions.first()


def run_requests_visible_to(user: access.User, *, pipeline_id: int) -> QuerySet[RunRequest]:
    return RunRequest.objects.filter(
        pipeline_version__pipeline__in=access.pipelines_visible(user), pipeline_version__pipeline_id=pipeline_id
    ).select_related("pipeline_version", "run")
