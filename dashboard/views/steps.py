"""A step run's page and the log tail it polls."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from dashboard.metadata_display import shown_metadata
from pipelines import selectors
from pipelines.models import FINISHED_STEP_STATUSES
from secrets_app.selectors import secret_reads_by_step_run


@login_required
def step_detail(request: HttpRequest, step_id: int) -> HttpResponse:
    step = selectors.step_for_page(request.user, step_id=step_id)
    if step is None:
        raise Http404("No such step run.")
    context = {
        "step": step,
        "run": step.pipeline_run,
        "metadata": shown_metadata(step.metadata.all()),
        "parameters": json.dumps(step.parameters, indent=2, sort_keys=True, default=str),
        "log_running": step.status not in FINISHED_STEP_STATUSES,
        "log_cut": step.log_length > len(step.log_tail),
        "secrets_read": secret_reads_by_step_run(step.id),
    }
    return render(request, "dashboard/step_detail.html", context)


@login_required
def step_log(request: HttpRequest, step_id: int) -> JsonResponse:
    """The log written since character `offset`: {text, offset, running, status}.

    `offset` in the answer is where the next poll starts. When the log is shorter
    than the offset asked for (it was rewritten), the whole log comes back and the
    page replaces what it shows (`reset`). At most the last
    STEP_LOG_TAIL_CHARS characters come back at once.
    """
    try:
        offset = max(0, int(request.GET.get("offset", "0")))
    except ValueError:
        offset = 0
    row = selectors.step_log_since(request.user, step_id=step_id, offset=offset)
    if row is None:
        raise Http404("No such step run.")
    reset = row["log_length"] < offset
    text = row["text"] or ""
    if len(text) > selectors.STEP_LOG_TAIL_CHARS:
        text = text[-selectors.STEP_LOG_TAIL_CHARS :]
    return JsonResponse(
        {
            "text": text,
            "offset": row["log_length"],
            "running": row["status"] not in FINISHED_STEP_STATUSES,
            "status": row["status"],
            "reset": reset,
        }
    )
