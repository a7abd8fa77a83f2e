"""Models, their versions and stage changes.

Who may change a stage is `pipelines.access`'s decision: users granted
`pipelines.change_modelversion` (directly or through a group; superusers hold
every permission), the same as through the API. Everyone else sees stages read-only.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dashboard.listing import paginate
from dashboard.metadata_display import shown_metadata
from dashboard.tag_filter import filter_by_tag
from pipelines import access, selectors
from pipelines.models import ArtifactKind, ModelStage
from pipelines.services.model_versions import ModelStageTaken, model_version_set_stage


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    models = selectors.models_with_summary(request.user)
    name = request.GET.get("name", "").strip()
    if name:
        models = models.filter(name__icontains=name)
    models, tag, tag_error = filter_by_tag(request, models)
    listing = paginate(
        request,
        models,
        sorts={"name": "name", "versions": "version_count", "created": "created_at"},
        default="name",
    )
    return render(
        request,
        "dashboard/model_list.html",
        {"page_obj": listing.page_obj, "sort": listing.sort, "name": name, "tag": tag, "tag_error": tag_error},
    )


@login_required
def model_detail(request: HttpRequest, model_id: int) -> HttpResponse:
    model = get_object_or_404(selectors.models_visible_to(request.user), id=model_id)
    versions = selectors.model_versions_of(request.user, model_id=model.id)
    stage = request.GET.get("stage", "")
    if stage in ModelStage.values:
        versions = versions.filter(stage=stage)
    else:
        stage = ""
    listing = paginate(
        request,
        versions,
        sorts={"number": "number", "name": "name", "stage": "stage", "created": "created_at", "runs": "run_count"},
        default="-number",
    )
    return render(
        request,
        "dashboard/model_detail.html",
        {
            "model": model,
            "page_obj": listing.page_obj,
            "sort": listing.sort,
            "stage": stage,
            "stages": ModelStage.choices,
        },
    )


@login_required
def model_version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(selectors.model_version_for_page(request.user), id=version_id)
    runs = paginate(
        request,
        selectors.model_version_runs(request.user, version_id=version.id),
        sorts={"name": "name", "status": "status", "created": "id"},
        default="-created",
    )
    by_kind: dict[str, list] = defaultdict(list)
    for link in version.artifact_links.all():
        by_kind[link.kind].append(link)
    artifact_groups = [(label, by_kind[kind]) for kind, label in ArtifactKind.choices if by_kind.get(kind)]
    return render(
        request,
        "dashboard/model_version_detail.html",
        {
            "version": version,
            "metadata": shown_metadata(version.metadata.all()),
            "artifact_groups": artifact_groups,
            "page_obj": runs.page_obj,
            "sort": runs.sort,
            "stages": ModelStage.choices,
            "may_change_stage": access.may_change_stage(request.user),
        },
    )


@login_required
@require_POST
def model_version_stage(request: HttpRequest, version_id: int) -> HttpResponse:
    version = access.access_model_version_for_stage(
        request.user, version_id=version_id, queryset=selectors.model_version_for_page(request.user)
    )
    stage = request.POST.get("stage", "")
    if stage not in ModelStage.values:
        messages.error(request, f"Choose one of the stages: {', '.join(ModelStage.labels)}.")
        return redirect("dashboard:model-version-detail", version_id=version.id)
    force = request.POST.get("force") == "on"
    try:
        model_version_set_stage(version=version, stage=stage, force=force)
    except ModelStageTaken:
        holder = (
            selectors.model_versions_of(request.user, model_id=version.model_id)
            .filter(stage=stage)
            .exclude(id=version.id)
            .first()
        )
        held_by = f"version {holder.name}" if holder else "another version"
        messages.error(
            request,
            f"{held_by.capitalize()} of {version.model.name} is already in {stage}. Tick “force” to move "
            f"{held_by} to archived and put version {version.name} in {stage}.",
        )
    else:
        messages.success(request, f"Version {version.name} of {version.model.name} is now in {stage}.")
    return redirect("dashboard:model-version-detail", version_id=version.id)
