"""The metadata explorer: one numeric metadata key plotted over time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from dashboard.links import id_link
from pipelines import selectors

# The chart shows the newest points only, so one request stays small whatever the history.
MAX_POINTS = 2000
TABLE_POINTS = 20
TARGETS = {
    "run": "Runs",
    "model_version": "Model versions",
    "step_run": "Step runs",
    "artifact_version": "Artifact versions",
}


def _target(request: HttpRequest) -> str:
    target = request.GET.get("target", "run")
    return target if target in TARGETS else "run"


_LINKS = {
    "run": "dashboard:run-detail",
    "model_version": "dashboard:model-version-detail",
    "step_run": "dashboard:step-detail",
    "artifact_version": "dashboard:artifact-version-detail",
}


def _linker(target: str) -> Callable[[int], str]:
    return id_link(_LINKS[target])


def _shown(point: dict[str, Any], target: str, link: Callable[[int], str]) -> dict[str, Any]:
    """A point as the chart and the table use it: time, value, label and link."""
    names = point["names"]
    if target == "run":
        label = names[0]
    elif target == "step_run":
        label = f"{names[0]} in {names[1]}"
    else:
        label = f"{names[0]} version {names[1]}"
    return {"x": point["time"].isoformat(), "y": point["value"], "label": label, "url": link(point["target_id"])}


def _opening_series(request: HttpRequest, keys: list[str]) -> tuple[str, str]:
    """The (key, target) the page shows: the one asked for, else the most recently
    logged numeric metadata that has points (never a key and target with nothing
    to plot, which would draw an empty chart); ("", "run") when nothing has points."""
    key = request.GET.get("key", "")
    if key in keys:
        if "target" in request.GET:
            return key, _target(request)
        # A key alone: the first target it was logged on.
        targets = selectors.metadata_key_targets(request.user, key=key)
        return key, targets[0] if targets else "run"
    latest = selectors.metadata_latest_series(request.user)
    if latest is not None:
        return latest
    return (keys[0] if keys else ""), _target(request)


@login_required
def metadata_explorer(request: HttpRequest) -> HttpResponse:
    keys = selectors.numeric_metadata_keys(request.user)
    key, target = _opening_series(request, keys)
    latest = []
    key_targets: list[tuple[str, str]] = []
    if key:
        points = selectors.metadata_points(request.user, key=key, target=target, limit=TABLE_POINTS)
        link = _linker(target)
        latest = [{**_shown(point, target, link), "time": point["time"]} for point in points]
        if not latest:
            # Say where this key does have points, each a link that plots it there.
            key_targets = [
                (TARGETS[other], f"{reverse('dashboard:metadata-explorer')}?{_query(key, other)}")
                for other in selectors.metadata_key_targets(request.user, key=key)
                if other != target
            ]
    points_url = f"{reverse('dashboard:metadata-points')}?{_query(key, target)}" if latest else ""
    return render(
        request,
        "dashboard/metadata_explorer.html",
        {
            "keys": keys,
            "key": key,
            "target": target,
            "targets": TARGETS.items(),
            "target_label": TARGETS[target],
            "latest": latest,
            "key_targets": key_targets,
            "points_url": points_url,
            "max_points": MAX_POINTS,
        },
    )


def _query(key: str, target: str) -> str:
    query = QueryDict(mutable=True)
    query["key"], query["target"] = key, target
    return query.urlencode()


@login_required
def metadata_points(request: HttpRequest) -> JsonResponse:
    """`{"key", "target", "limit", "points": [{x: ISO time, y: number, label, url}]}`, oldest first."""
    key = request.GET.get("key", "")
    target = request.GET.get("target", "run")
    if not key or target not in TARGETS:
        return JsonResponse(
            {"detail": f"Give a metadata key and a target: one of {', '.join(TARGETS)}.", "points": []}, status=400
        )
    points = selectors.metadata_points(request.user, key=key, target=target, limit=MAX_POINTS)
    link = _linker(target)
    shown = [_shown(point, target, link) for point in reversed(points)]
    return JsonResponse({"key": key, "target": target, "limit": MAX_POINTS, "points": shown})
