"""The home page: what is running, what failed, how much there is, the workers."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipelines import selectors
from pipelines.models import RunStatus

HOME_ROWS = 10


@login_required
def home(request: HttpRequest) -> HttpResponse:
    counts = selectors.run_counts_by_status(request.user)
    workers = selectors.workers_by_queue()
    context = {
        "latest_runs": selectors.runs_for_list(request.user).order_by("-created_at", "-id")[:HOME_ROWS],
        "active_runs": selectors.runs_active(request.user).order_by("-created_at", "-id")[:HOME_ROWS],
        "active_count": sum(counts[status] for status in selectors.ACTIVE_RUN_STATUSES),
        "failed_runs": selectors.runs_failed(request.user).order_by("-created_at", "-id")[:HOME_ROWS],
        "failed_count": counts[RunStatus.FAILED],
        "status_counts": [(status, label, counts[status]) for status, label in RunStatus.choices],
        "run_total": sum(counts.values()),
        "totals": selectors.dashboard_totals(request.user),
        "model_versions": selectors.model_versions_recent(request.user)[:HOME_ROWS],
        # The figure is the default queue's; the line under it names every pool.
        "workers_alive": workers.get(settings.PIPELINES["QUEUE"], 0),
        "workers_by_queue": workers,
    }
    return render(request, "dashboard/home.html", context)
