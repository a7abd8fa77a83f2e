"""The runs list, a run's page with its live DAG and timeline, and stop / re-run."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from dashboard.listing import paginate
from dashboard.metadata_display import shown_metadata
from dashboard.run_graph import run_graph, run_state, step_table
from pipelines import access, selectors
from pipelines.models import PipelineRun, RunStatus, RunTrigger
from pipelines.sdk.spec import SpecError
from pipelines.services.runs import pipeline_run_create, pipeline_run_stop

RUN_SORTS = {
    "created": "created_at",
    "name": "name",
    "pipeline": "pipeline__name",
    "status": "status",
    "finished": "finished_at",
}


class RunFilterForm(forms.Form):
    """The runs list's filters, all optional, all in the query string."""

    pipeline = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any pipeline")
    status = forms.MultipleChoiceField(choices=RunStatus.choices, required=False, widget=forms.CheckboxSelectMultiple)
    name = forms.CharField(required=False, max_length=255, label="Name contains")
    tag = forms.CharField(required=False, max_length=100, label="Tag")
    created_after = forms.DateTimeField(
        required=False, label="Created after", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    created_before = forms.DateTimeField(
        required=False, label="Created before", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    metadata_key = forms.CharField(required=False, max_length=255, label="Metadata key")
    metadata_value = forms.CharField(
        required=False,
        max_length=1000,
        label="Metadata value",
        help_text="Read as JSON when it parses (0.9, true, [1, 2]), and also matched as text.",
    )

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pipeline"].queryset = selectors.pipelines_visible_to(user).only("id", "name")  # type: ignore[attr-defined]


def filtered_runs(request: HttpRequest, *, pipeline_id: int | None = None) -> tuple[RunFilterForm, QuerySet]:
    """The filter form bound to the query string and the runs it selects (every run
    when the form is invalid, with the form showing why). With `pipeline_id`, only
    that pipeline's runs, and the form has no pipeline field."""
    form = RunFilterForm(request.GET or None, user=request.user)
    if pipeline_id is not None:
        del form.fields["pipeline"]
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if pipeline_id is None and data["pipeline"] is not None:
            pipeline_id = data["pipeline"].id
        return form, selectors.runs_filtered(
            request.user,
            pipeline_id=pipeline_id,
            statuses=data["status"],
            created_after=data["created_after"],
            created_before=data["created_before"],
            name=data["name"],
            tag=data["tag"],
            metadata_key=data["metadata_key"],
            metadata_value=data["metadata_value"],
        )
    return form, selectors.runs_filtered(request.user, pipeline_id=pipeline_id)


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    form, runs = filtered_runs(request)
    listing = paginate(request, runs, sorts=RUN_SORTS, default="-created")
    return render(request, "dashboard/run_list.html", {"form": form, "page_obj": listing.page_obj})


def _run_or_404(request: HttpRequest, run_id: int) -> PipelineRun:
    run = selectors.run_for_page(request.user, run_id=run_id)
    if run is None:
        raise Http404("No such run.")
    return run


def _run_to_control(request: HttpRequest, run_id: int, *fields: str, action: str) -> PipelineRun:
    """A run the user may stop or re-run (`access.access_run_for_control`): 404, 403."""
    runs = selectors.runs_visible_to(request.user).select_related(None).only("triggered_by_id", *fields)
    return access.access_run_for_control(request.user, run_id=run_id, queryset=runs, action=action)


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(request, run_id)
    rows = selectors.run_step_rows(request.user, run_id=run.id)
    graph = run_graph(run={"id": run.id, "status": run.status, "revision": run.revision}, spec=run.spec, rows=rows)
    context = {
        "run": run,
        "graph": graph,
        "steps": step_table(graph["steps"], rows),
        "outputs": selectors.run_outputs(request.user, run_id=run.id),
        "cached_sources": selectors.run_cached_sources(request.user, step_rows=rows),
        "may_control": access.may_control_run(request.user, run),
        "metadata": shown_metadata(run.metadata.all()),
        "parameters": json.dumps(run.parameters, indent=2, sort_keys=True, default=str),
        "config": run.config,
        # The run configuration's free-form values and settings (with_options, a YAML file).
        **{
            f"config_{key}": json.dumps(run.config[key], indent=2, sort_keys=True, default=str)
            for key in ("extra", "settings")
            if run.config.get(key)
        },
    }
    return render(request, "dashboard/run_detail.html", context)


@login_required
def run_live(request: HttpRequest, run_id: int) -> JsonResponse:
    """The run page's poll: run status and revision, every step's status and phases."""
    found = selectors.run_live_state(request.user, run_id=run_id)
    if found is None:
        raise Http404("No such run.")
    run, rows = found
    return JsonResponse(run_state(run, rows))


@login_required
@require_POST
def run_stop(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_to_control(request, run_id, "id", "name", "status", action="stop")
    if run.is_finished:
        messages.info(request, f"Run {run.name} had already finished ({run.get_status_display().lower()}).")
    else:
        run = pipeline_run_stop(run=run)
        messages.success(
            request,
            f"Run {run.name} is {run.get_status_display().lower()}: steps that had not started will not run; "
            "running steps finish first.",
        )
    return redirect("dashboard:run-detail", run_id=run.id)


@login_required
@require_POST
def run_rerun(request: HttpRequest, run_id: int) -> HttpResponse:
    """A new run of the same spec by the current user (the run's owner, or a holder
    of `pipelines.change_pipelinerun`). The spec carries the run
    name template, not the name, so the new run gets a fresh name; steps whose
    inputs and code are unchanged hit the cache as usual."""
    run = _run_to_control(request, run_id, "id", "name", "spec", action="re-run")
    try:
        new_run = pipeline_run_create(spec=run.spec, user=request.user, trigger=RunTrigger.RERUN, rerun_of=run)
    except SpecError as exc:
        messages.error(request, f"Could not re-run {run.name}: {exc}")
        return redirect("dashboard:run-detail", run_id=run.id)
    messages.success(request, f"Started {new_run.name}, a re-run of {run.name}.")
    return redirect("dashboard:run-detail", run_id=new_run.id)
