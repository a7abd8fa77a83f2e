"""The home page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipelines import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    runs = selectors.runs_visible_to(request.user)[:50]
    return render(request, "dashboard/home.html", {"runs": runs, "workers_alive": selectors.workers_alive()})
