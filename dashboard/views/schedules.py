"""Schedules: the list (next due times, paused, last fired) and a schedule's page (its
settings, the runs it started, pause/resume/delete).

Who may pause, resume or delete is `pipelines.access`'s decision: the schedule's
creator, or a holder of `pipelines.change_schedule` / `pipelines.delete_schedule`,
the same as through the API.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from dashboard.listing import paginate
from pipelines import access
from pipelines.models import ScheduleFiring
from pipelines.services.schedules import schedule_delete, schedule_next_due_times, schedule_update

# How many of a schedule's recent firings its page lists (with why one started nothing).
FIRINGS_SHOWN = 20


@login_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = access.schedules_visible(request.user).select_related("pipeline", "created_by")
    listing = paginate(
        request,
        schedules,
        sorts={"name": "name", "pipeline": "pipeline__name", "next": "next_due_at", "created": "created_at"},
        default="name",
    )
    rows = [(schedule, schedule_next_due_times(schedule)) for schedule in listing.page_obj]
    return render(
        request, "dashboard/schedule_list.html", {"page_obj": listing.page_obj, "sort": listing.sort, "rows": rows}
    )


@login_required
def schedule_detail(request: HttpRequest, schedule_id: int) -> HttpResponse:
    queryset = access.schedules_visible(request.user).select_related("pipeline", "pipeline_version", "created_by")
    schedule = access.access_schedule(request.user, schedule_id=schedule_id, queryset=queryset)
    runs = (
        access.runs_visible(request.user)
        .filter(schedule=schedule)
        .select_related("pipeline", "triggered_by")
        .order_by("-created_at", "-id")
    )
    listing = paginate(request, runs, sorts={"created": "created_at"}, default="-created")
    firings = ScheduleFiring.objects.filter(schedule=schedule).exclude(error="")[:FIRINGS_SHOWN]
    return render(
        request,
        "dashboard/schedule_detail.html",
        {
            "schedule": schedule,
            "next_due_times": schedule_next_due_times(schedule),
            "page_obj": listing.page_obj,
            "runs": listing.page_obj,
            "failed_firings": firings,
            "may_change": access.may_change_schedule(request.user, schedule, action="pause"),
            "may_delete": access.may_change_schedule(request.user, schedule, action="delete"),
        },
    )


@login_required
@require_POST
def schedule_pause(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = access.access_schedule_for_change(request.user, schedule_id=schedule_id, action="pause")
    pause = request.POST.get("paused", "true") != "false"
    schedule_update(schedule=schedule, changes={"paused": pause})
    if pause:
        messages.success(request, f"Schedule {schedule.name} is paused: it starts no run until resumed.")
    else:
        messages.success(request, f"Schedule {schedule.name} is resumed; occurrences due while paused are skipped.")
    return redirect("dashboard:schedule-detail", schedule_id=schedule.id)


@login_required
@require_POST
def schedule_remove(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = access.access_schedule_for_change(request.user, schedule_id=schedule_id, action="delete")
    schedule_delete(schedule=schedule)
    messages.success(request, f"Schedule {schedule.name} is deleted; the runs it started stay.")
    return redirect("dashboard:schedule-list")
