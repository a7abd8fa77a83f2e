"""PLACEHOLDER: being built this session; every view answers 404 until then."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from pipelines import selectors


def run_list(request, **kwargs):
    raise Http404("not built yet")


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(selectors.runs_with_steps(request.user), id=run_id)
    return render(request, "dashboard/run_detail.html", {"run": run})


def run_live(request, **kwargs):
    raise Http404("not built yet")


def run_stop(request, **kwargs):
    raise Http404("not built yet")


def run_rerun(request, **kwargs):
    raise Http404("not built yet")
