"""Artifacts, their versions, downloads and previews."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_sameorigin

from dashboard.links import id_link
from dashboard.listing import paginate
from dashboard.metadata_display import shown_metadata
from dashboard.previews import preview_for, raw_file_for
from pipelines import selectors
from pipelines.storage import artifact_store

# What the preview URL's responses may do: nothing. `sandbox` gives the document a
# unique origin with scripts, forms and popups off, even when opened outside the
# frame; inline styles and embedded images are allowed so reports still look right.
PREVIEW_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CHUNK = 256 * 1024
TABLE_POINTS = 50


@login_required
def artifact_list(request: HttpRequest) -> HttpResponse:
    artifacts = selectors.artifacts_with_summary(request.user)
    name = request.GET.get("name", "").strip()
    if name:
        artifacts = artifacts.filter(name__icontains=name)
    listing = paginate(
        request,
        artifacts,
        sorts={"name": "name", "versions": "version_count", "latest": "latest_created_at", "created": "created_at"},
        default="name",
    )
    return render(
        request,
        "dashboard/artifact_list.html",
        {"page_obj": listing.page_obj, "sort": listing.sort, "name": name},
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
            "preview": preview_for(version, artifact_store()),
        },
    )


@login_required
def artifact_version_download(request: HttpRequest, version_id: int) -> HttpResponse:
    """The stored file, or a folder as a zip built while it streams. Ready versions only."""
    version = get_object_or_404(selectors.artifact_versions_visible_to(request.user), id=version_id)
    try:
        path = artifact_store().resolve(version.uri)
        mode = path.lstat().st_mode
    except (OSError, ValueError):
        raise Http404("The stored files of this artifact version are missing.") from None
    base = _safe_filename(f"{version.artifact.name}-{version.version}")
    if stat.S_ISREG(mode):
        suffix = _safe_filename(path.suffix)
        response: HttpResponse = FileResponse(
            open(path, "rb"),  # noqa: SIM115 (FileResponse closes it)
            as_attachment=True,
            filename=f"{base}{suffix}",
            content_type="application/octet-stream",
        )
    elif stat.S_ISDIR(mode):
        response = StreamingHttpResponse(_zip_stream(path), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{base}.zip"'
    else:
        raise Http404("The stored artifact is neither a file nor a folder.")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@xframe_options_sameorigin
def artifact_version_preview(request: HttpRequest, version_id: int) -> HttpResponse:
    """Raw image or HTML bytes for the version page's <img> and sandboxed frame."""
    version = get_object_or_404(selectors.artifact_versions_visible_to(request.user), id=version_id)
    raw = raw_file_for(version, artifact_store())
    if raw is None:
        raise Http404("This artifact version has no image or HTML preview.")
    response = FileResponse(open(raw.path, "rb"), content_type=raw.content_type)  # noqa: SIM115
    response["Content-Security-Policy"] = PREVIEW_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:150] or "artifact"


class _Chunks:
    """A write-only file whose bytes are collected until the next drain()."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _zip_stream(root: Path) -> Iterator[bytes]:
    """A zip of the folder, yielded while it is built: nothing is buffered whole.

    ZipFile sees a file it cannot seek, so it writes each entry's sizes after its
    data (data descriptors), which every unzip tool reads. Symlinks and special files
    are left out: an artifact is plain files, and a link could point outside the store.
    """
    sink = _Chunks()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                file_path = Path(dirpath) / name
                file_stat = file_path.lstat()
                if not stat.S_ISREG(file_stat.st_mode):
                    continue
                info = zipfile.ZipInfo.from_file(file_path, arcname=file_path.relative_to(root).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                with (
                    open(file_path, "rb") as source,
                    archive.open(info, mode="w", force_zip64=file_stat.st_size >= zipfile.ZIP64_LIMIT) as target,
                ):
                    while chunk := source.read(_CHUNK):
                        target.write(chunk)
                        if data := sink.drain():
                            yield data
                if data := sink.drain():
                    yield data
    yield sink.drain()
