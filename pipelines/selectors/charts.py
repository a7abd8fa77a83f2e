"""Reads for the dashboard's charts and comparisons: an artifact's metadata over its
versions, runs side by side, and one metadata key over time (the explorer).

Every read starts from a visible queryset of `pipelines.access`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.db.models.expressions import RawSQL

from pipelines import access
from pipelines.models import PipelineRun, StepRun, StepRunOutput
from pipelines.selectors.api import runs_visible_to

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


@dataclass(frozen=True)
class ArtifactChart:
    keys: list[str]  # numeric metadata keys on the charted versions, in name order
    key: str  # the one charted ("" when there is none)
    points: list[dict[str, Any]]  # {"version_id", "version", "value"}, oldest version first


def artifact_metadata_chart(
    user: access.User, *, artifact_id: int, key: str, limit: int = ARTIFACT_SERIES_LIMIT
) -> ArtifactChart:
    """One numeric metadata key across the newest `limit` ready versions of an artifact.

    `key` falls back to the first numeric key when the versions have no such key.
    The versions' ids come first (an index-only scan), so the metadata is then read
    by its artifact-version index for those versions only, rather than joined.
    """
    versions = dict(
        access.artifact_versions_visible(user)
        .filter(artifact_id=artifact_id)
        .order_by("-id")
        .values_list("id", "version")[:limit]
    )
    if not versions:
        return ArtifactChart(keys=[], key="", points=[])
    on_versions = access.metadata_visible(user).filter(
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


def runs_for_compare(user: access.User, *, run_ids: list[int]) -> QuerySet[PipelineRun]:
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


def numeric_metadata_keys(user: access.User, *, limit: int = 500) -> list[str]:
    """Distinct keys that have numeric values, in name order.

    A plain DISTINCT reads every row's index entry (100,000 rows: tens of ms); this
    recursive query jumps from one key to the next along the (key, type) index, so it
    costs one index probe per distinct key, which are few.
    """
    if not access.may_read(user):
        return []
    table = connection.ops.quote_name(access.metadata_visible(user).model._meta.db_table)
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


def metadata_points(user: access.User, *, key: str, target: str, limit: int = 2000) -> list[dict[str, Any]]:
    """The newest numeric values of `key` on one kind of target (at most `limit`), newest first.

    One point per target object: when a key was logged twice on a run, the latest
    value is the run's value. Two queries: the values, read backwards along the
    target's partial (key, id) index with no join, then the names of their targets.
    """
    field = METADATA_TARGETS[target]
    rows = (
        access.metadata_visible(user)
        .filter(key=key, type__in=NUMERIC_METADATA_TYPES, **{f"{field}__isnull": False})
        .order_by("-id")
        .values_list(f"{field}_id", "value", "created_at")[:limit]
    )
    points: dict[int, dict[str, Any]] = {}
    for target_id, raw, created_at in rows:
        value = _finite_number(raw)
        if value is not None and target_id not in points:
            points[target_id] = {"target_id": target_id, "value": value, "time": created_at}
    names = _target_names(user, field, list(points))
    return [{**point, "names": names[point["target_id"]]} for point in points.values() if point["target_id"] in names]


def metadata_latest_series(user: access.User, *, look_back: int = 50) -> tuple[str, str] | None:
    """(key, target) of the most recently logged numeric metadata that has a point to
    plot, or None when no numeric metadata has one: what the explorer opens on.

    Reads the newest `look_back` numeric rows backwards along the primary key; a row
    whose value is not finite, or whose target is hidden (a pending artifact
    version), gives way to the next (key, target) pair.
    """
    rows = (
        access.metadata_visible(user)
        .filter(type__in=NUMERIC_METADATA_TYPES)
        .order_by("-id")
        .values_list("key", *(f"{field}_id" for field in METADATA_TARGETS.values()))[:look_back]
    )
    tried: set[tuple[str, str]] = set()
    for key, *target_ids in rows:
        for target, target_id in zip(METADATA_TARGETS, target_ids, strict=True):
            if target_id is None or (key, target) in tried:
                continue
            tried.add((key, target))
            if metadata_points(user, key=key, target=target, limit=1):
                return key, target
    return None


def metadata_key_targets(user: access.User, *, key: str) -> list[str]:
    """The explorer's targets on which `key` was logged with a numeric value, in
    `METADATA_TARGETS` order: one probe each, along the target's partial (key, id)
    index (ordering by id is what makes PostgreSQL pick it; an EXISTS without it
    scanned the target's foreign-key index, 30 ms on the 100,000-row bench)."""
    visible = access.metadata_visible(user).filter(key=key, type__in=NUMERIC_METADATA_TYPES)
    return [
        target
        for target, field in METADATA_TARGETS.items()
        if visible.filter(**{f"{field}__isnull": False}).order_by("-id").values_list("id", flat=True)[:1]
    ]


def _target_names(user: access.User, field: str, ids: list[int]) -> dict[int, list[str]]:
    """What labels a metadata target: a run's name, a model's and version's names, ..."""
    if not ids:
        return {}
    wanted = _many_ids(ids)
    if field == "pipeline_run":
        rows = access.runs_visible(user).filter(id__in=wanted).values_list("id", "name")
    elif field == "step_run":
        rows = access.steps_visible(user).filter(id__in=wanted).values_list("id", "name", "pipeline_run__name")
    elif field == "model_version":
        rows = access.model_versions_visible(user).filter(id__in=wanted).values_list("id", "model__name", "name")
    else:
        # Pending versions are invisible, so their points are left out.
        rows = (
            access.artifact_versions_visible(user).filter(id__in=wanted).values_list("id", "artifact__name", "version")
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
