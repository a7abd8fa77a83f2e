"""The pipelines list and a pipeline's page: its runs, duration trend and DAG."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from dashboard.listing import paginate
from dashboard.run_form import RunForm
from dashboard.run_graph import run_graph
from dashboard.views.runs import RUN_SORTS, filtered_runs
from pipelines import access, selectors
from pipelines.models import PipelineRun, RunTrigger
from pipelines.selectors.versions import (
    pipeline_version_for_trigger,
    pipeline_versions_visible_to,
    run_requests_visible_to,
)
from pipelines.services.triggers import start_run

PIPELINE_SORTS = {
    "name": "name",
    "runs": "run_count",
    "success": "success_rate",
    "last_run": "last_run_created_at",
    "created": "created_at",
}


@login_required
def pipeline_list(request: HttpRequest) -> HttpResponse:
    pipelines = selectors.pipelines_with_stats(request.user)
    name = request.GET.get("name", "").strip()
    if name:
        pipelines = pipelines.filter(name__icontains=name)
    listing = paginate(request, pipelines, sorts=PIPELINE_SORTS, default="name")
    page = listing.page_obj
    latest = selectors.pipeline_latest_runs(request.user, pipeline_ids=[p.id for p in page.object_list])
    rows = [(pipeline, latest.get(pipeline.id)) for pipeline in page.object_list]
    return render(request, "dashboard/pipeline_list.html", {"page_obj": page, "rows": rows, "name": name})


@login_required
def pipeline_detail(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    pipeline = get_object_or_404(selectors.pipelines_visible_to(request.user), id=pipeline_id)
    form, runs = filtered_runs(request, pipeline_id=pipeline.id)
    listing = paginate(request, runs, sorts=RUN_SORTS, default="-created")
    run_url = reverse("dashboard:run-detail", args=[0]).replace("/0/", "/{}/")
    trend = [
        {
            "name": row["name"],
            "status": row["status"],
            "created_at": row["created_at"].isoformat(),
            "duration": row["duration"],
            "url": run_url.format(row["id"]),
        }
        for row in selectors.pipeline_duration_trend(request.user, pipeline_id=pipeline.id)
    ]
    latest = selectors.pipeline_latest_run(request.user, pipeline_id=pipeline.id)
    graph = None
    if latest is not None:
        rows = selectors.run_step_rows(request.user, run_id=latest.id)
        graph = run_graph(run={"id": latest.id, "status": latest.status, "revision": 0}, spec=latest.spec, rows=rows)
    context = {
        "pipeline": pipeline,
        "form": form,
        "page_obj": listing.page_obj,
        "trend": trend,
        "latest": latest,
        "graph": graph,
        # The Run button (the form says when the pipeline has no version it can start).
        "may_start_run": access.may_start_runs(request.user),
    }
    return render(request, "dashboard/pipeline_detail.html", context)


def _rerun_source(request: HttpRequest, run_id: Any, pipeline_id: int) -> PipelineRun | None:
    """The run a Re-run form repeats: the user must be allowed to re-run it (404, 403)."""
    if run_id in (None, ""):
        return None
    try:
        run_id = int(run_id)
    except (TypeError, ValueError):
        raise Http404("No such run.") from None
    runs = selectors.runs_visible_to(request.user).select_related(None).filter(pipeline_id=pipeline_id)
    return access.access_run_for_control(
        request.user,
        run_id=run_id,
        queryset=runs.only("id", "name", "triggered_by_id", "parameters", "pipeline_version_id"),
        action="re-run",
    )


def _cache_choice(use_cache: bool, *, version_default: bool) -> bool | None:
    """Left as the pipeline sets it: None, so steps that turn caching off keep it off."""
    return None if use_cache == version_default else use_cache


@login_required
def pipeline_run(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    """The Run form (`?rerun=<run id>`: Re-run, prefilled with that run's parameters):
    a typed input per parameter of the newest stored version (a re-run: its run's),
    "use cache", a run name. Submitting starts the run and opens it; a pipeline whose
    DAG depends on its parameters is compiled by a worker first, which this page
    shows (`?request=`)."""
    pipeline = get_object_or_404(selectors.pipelines_visible_to(request.user), id=pipeline_id)
    access.require_run_start(request.user)
    rerun = _rerun_source(request, request.POST.get("rerun") or request.GET.get("rerun"), pipeline.id)
    # A re-run starts from the version its run ran (its parameters fit that schema).
    version = (
        pipeline_versions_visible_to(request.user, pipeline_id=pipeline.id)
        .select_related("pipeline")
        .filter(id=rerun.pipeline_version_id)
        .first()
        if rerun is not None and rerun.pipeline_version_id
        else pipeline_version_for_trigger(request.user, pipeline_id=pipeline.id, number=None)
    )
    context: dict[str, Any] = {"pipeline": pipeline, "version": version, "rerun": rerun}
    request_id = request.GET.get("request", "")
    if request_id.isascii() and request_id.isdigit():
        run_request = run_requests_visible_to(request.user, pipeline_id=pipeline.id).filter(id=int(request_id)).first()
        if run_request is None:
            raise Http404("No such run request.")
        if run_request.run_id is not None:
            return redirect("dashboard:run-detail", run_id=run_request.run_id)
        context["run_request"] = run_request
    if version is None or not version.starts_without_code:
        return render(request, "dashboard/pipeline_run.html", context)
    values = (
        rerun.parameters
        if rerun is not None
        else {d["name"]: d["default"] for d in version.parameter_schema if "default" in d}
    )
    initial = {"enable_cache": bool(version.spec.get("enable_cache", True)), "rerun": rerun.id if rerun else None}
    form = RunForm(request.POST or None, schema=version.parameter_schema, values=values, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            started = start_run(
                pipeline_version=version,
                parameters=form.parameters(),
                enable_cache=_cache_choice(form.cleaned_data["enable_cache"], version_default=initial["enable_cache"]),
                run_name=form.cleaned_data["run_name"] or None,
                user=request.user,
                trigger=RunTrigger.RERUN if rerun is not None else RunTrigger.API,
                rerun_of=rerun,
            )
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            if isinstance(started, PipelineRun):
                what = f", a re-run of {rerun.name}" if rerun is not None else ""
                messages.success(request, f"Started {started.name}{what}.")
                return redirect("dashboard:run-detail", run_id=started.id)
            messages.info(request, "A worker is compiling the pipeline with these parameters; its run opens here.")
            return redirect(f"{reverse('dashboard:pipeline-run', args=[pipeline.id])}?request={started.id}")
    context["form"] = form
    return render(request, "dashboard/pipeline_run.html", context)
