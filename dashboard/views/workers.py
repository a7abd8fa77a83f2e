"""The workers page: each Celery worker, whether it is alive, and what it runs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipelines.selectors.workers import RECENT_STEPS_PER_WORKER, workers_for_page


@login_required
def worker_list(request: HttpRequest) -> HttpResponse:
    workers = workers_for_page(request.user)
    return render(
        request,
        "dashboard/worker_list.html",
        {
            "workers": workers,
            "alive_count": sum(worker.alive for worker in workers),
            "timeout": settings.PIPELINES["WORKER_TIMEOUT"],
            "recent_limit": RECENT_STEPS_PER_WORKER,
        },
    )
