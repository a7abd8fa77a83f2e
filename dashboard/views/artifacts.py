"""Artifacts, their versions, downloads and previews."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_sameorigin

from dashboard.links import id_link
from dashboard.listing import paginate
from dashboard.metadata_display import shown_metadata
from dashboard.previews import RawFile, preview_for, raw_file_for
from dashboard.tag_filter import filter_by_tag
from dashboard.visualizations import visualization_file, visualizations_for
from pipelines import selectors
from pipelines.artifact_download import StoredBytesError, StoreUnreadable, download_response
from pipelines.storage import store_for_uri

# What the preview URL's responses may do: nothing. `sandbox` gives the document a
# unique origin with scripts, forms and popups off, even when opened outside the
# frame; inline styles and embedded images are allowed so reports still look right.
PREVIEW_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
TABLE_POINTS = 50


@login_required
def artifact_list(request: HttpRequest) -> HttpResponse:
    artifacts = selectors.artifacts_with_summary(request.user)
    name = request.GET.get("name", "").strip()
    if name:
        artifacts = artifacts.filter(name__icontains=name)
    artifacts, tag, tag_error = filter_by_tag(request, artifacts)
    listing = paginate(
        request,
        artifacts,
        sorts={"name": "name", "versions": "version_count", "latest": "latest_created_at", "created": "created_at"},
        default="name",
    )
    return render(
        request,
        "dashboard/artifact_list.html",
        {"page_obj": listing.page_obj, "sort": listing.sort, "name": name, "tag": tag, "tag_error": tag_error},
    )


@login_required
def artifact_detail(request: HttpRequest, artifact_id: int) -> HttpResponse:
    artifact = get_object_or_404(selectors.artifacts_visible_to(request.user), id=artifact_id)
    versions = selectors.artifact_versions_of(request.user, artifact_id=artifact.id)
    version_filter = request.GET.get("version", "").strip()
    if version_filter:
        versions = versions.filter(version__icontains=version_filter)
    listing = paginate(
        request,
        versions,
        # Ids grow in creation order, and (artifact, status, id) is indexed: no sort step.
        sorts={"version": "number", "created": "id", "size": "size"},
        default="-created",
    )
    found = selectors.artifact_metadata_chart(request.user, artifact_id=artifact.id, key=request.GET.get("key", ""))
    chart = None
    table: list[dict] = []
    if found.points:
        link = id_link("dashboard:artifact-version-detail")
        chart = {
            "key": found.key,
            "points": [
                {"label": point["version"], "y": point["value"], "url": link(point["version_id"])}
                for point in found.points
            ],
        }
        # The table beside the chart (for keyboards and screen readers) lists the
        # newest values; rendering hundreds of rows would cost more than the page.
        table = chart["points"][: -TABLE_POINTS - 1 : -1]
    return render(
        request,
        "dashboard/artifact_detail.html",
        {
            "artifact": artifact,
            "page_obj": listing.page_obj,
            "sort": listing.sort,
            "version_filter": version_filter,
            "keys": found.keys,
            "key": found.key,
            "chart": chart,
            "table": table,
            "max_versions": selectors.ARTIFACT_SERIES_LIMIT,
        },
    )


@login_required
def artifact_version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(selectors.artifact_version_for_page(request.user), id=version_id)
    consumers = paginate(
        request,
        selectors.artifact_version_consumers(request.user, version_id=version.id),
        sorts={"step": "step_run__name", "linked": "id"},
        default="-linked",
    )
    return render(
        request,
        "dashboard/artifact_version_detail.html",
        {
            "version": version,
            "metadata": shown_metadata(version.metadata.all()),
            "page_obj": consumers.page_obj,
            "sort": consumers.sort,
            "preview": preview_for(version),
            "visualizations": visualizations_for(version),
        },
    )


@login_required
def artifact_version_download(request: HttpRequest, version_id: int) -> HttpResponse:
    """The stored file, or a folder as a zip built while it streams. Ready versions only.
    Read through the version's store: the browser and this server need no mount."""
    version = get_object_or_404(selectors.artifact_versions_visible_to(request.user), id=version_id)
    try:
        return download_response(version)
    except StoredBytesError as exc:
        raise Http404(str(exc)) from None
    except StoreUnreadable as exc:
        return HttpResponse(str(exc), status=502, content_type="text/plain; charset=utf-8")


@login_required
@xframe_options_sameorigin
def artifact_version_preview(request: HttpRequest, version_id: int) -> HttpResponse:
    """Raw image or HTML bytes for the version page's <img> and sandboxed frames: the
    preview's file, or with `?visualization=N` the N-th recorded visualization."""
    version = get_object_or_404(selectors.artifact_versions_visible_to(request.user), id=version_id)
    wanted = request.GET.get("visualization")
    if wanted is None:
        raw = raw_file_for(version)
        if raw is None:
            raise Http404("This artifact version has no image or HTML preview.")
        return _raw_response(raw)
    if not (wanted.isascii() and wanted.isdigit()):
        return HttpResponseBadRequest("visualization must be the visualization's number (0, 1, ...).")
    raw = visualization_file(version, int(wanted))
    if raw is None:
        raise Http404("This artifact version has no such image or HTML visualization.")
    return _raw_response(raw)


def _raw_response(raw: RawFile) -> HttpResponse:
    try:
        handle = store_for_uri(raw.uri).open(raw.uri, "rb")
    except OSError:
        raise Http404("This artifact version's preview file could not be read.") from None
    response = FileResponse(handle, content_type=raw.content_type)
    response["Content-Length"] = str(raw.size)
    response["Content-Security-Policy"] = PREVIEW_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, max-age=3600"
    return response
