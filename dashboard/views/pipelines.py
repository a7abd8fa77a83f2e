"""The pipelines list and a pipeline's page: its runs, duration trend and DAG."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from dashboard.listing import paginate
from dashboard.run_graph import run_graph
from dashboard.views.runs import RUN_SORTS, filtered_runs
from pipelines import selectors

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
    }
    return render(request, "dashboard/pipeline_detail.html", context)
