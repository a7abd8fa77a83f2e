"""Prune, from the dashboard: the same options as `python manage.py prune`, a preview
of what would go, and a confirm button.

Who may prune is `pipelines.access`'s decision (`pipelines.delete_pipelinerun`,
superusers hold it); staff status alone grants nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from pipelines import access
from pipelines.services.retention import (
    PruneError,
    PrunePlan,
    parse_age,
    plan_lines,
    prune_execute,
    prune_plan,
    result_line,
)

PREVIEW_LINES = 200


def _options(data: Any) -> dict[str, str]:
    return {
        "older_than": data.get("older_than", "").strip(),
        "keep_last": data.get("keep_last", "").strip(),
        "pipeline": data.get("pipeline", "").strip(),
        "retention": "on" if data.get("retention") == "on" else "",
    }


def _plan(options: dict[str, str]) -> PrunePlan:
    """The plan the options ask for; PruneError naming the field when they are wrong."""
    keep_last = None
    if options["keep_last"]:
        try:
            keep_last = int(options["keep_last"])
        except ValueError:
            raise PruneError(f"Keep last: {options['keep_last']!r} is not a whole number of runs.") from None
    return prune_plan(
        older_than=parse_age(options["older_than"]) if options["older_than"] else None,
        keep_last=keep_last,
        pipeline_name=options["pipeline"] or None,
        use_pipeline_settings=bool(options["retention"]),
    )


@login_required
def prune_page(request: HttpRequest) -> HttpResponse:
    access.require_prune(request.user)
    pipelines = list(access.pipelines_visible(request.user).order_by("name").values_list("name", flat=True))
    options = _options(request.POST if request.method == "POST" else request.GET)
    context: dict[str, Any] = {"options": options, "pipelines": pipelines}
    if request.method != "POST":
        return render(request, "dashboard/prune.html", context)
    try:
        plan = _plan(options)
    except PruneError as exc:
        context["error"] = str(exc).replace("--older-than", "Older than").replace("--keep-last", "Keep last")
        return render(request, "dashboard/prune.html", context, status=400)
    if request.POST.get("action") == "confirm":
        result = prune_execute(plan=plan)
        messages.success(request, result_line(result).capitalize() + ".")
        for error in result.errors:
            messages.warning(request, error)
        return redirect("dashboard:prune")
    lines = plan_lines(plan, limit=PREVIEW_LINES)
    context.update(
        preview=True,
        summary=lines[0],
        details=lines[1:],
        anything=bool(plan.runs or plan.versions or plan.leftover_files),
    )
    return render(request, "dashboard/prune.html", context)
