"""A first dashboard: recent runs and a run's steps. The full dashboard comes later."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from pipelines import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    runs = selectors.runs_visible_to(request.user)[:50]
    return render(request, "dashboard/home.html", {"runs": runs, "workers_alive": selectors.workers_alive()})


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(selectors.runs_with_steps(request.user), id=run_id)
    return render(request, "dashboard/run_detail.html", {"run": run})
