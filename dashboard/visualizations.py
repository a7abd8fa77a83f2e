"""The visualizations a materializer's `save_visualizations` recorded for a version.

They are listed in the version's own folder (`_visualizations.json`, see
`pipelines.sdk.visualizations`) and read through the version's store with the
previews' bounded readers: Markdown stays escaped source, CSV becomes a table, HTML
and images are served raw only to the sandboxed frame and the <img> by
`visualization_file`, never put in the page.
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass

from dashboard import previews
from dashboard.previews import Preview, RawFile
from pipelines.models import ArtifactVersion
from pipelines.sdk.stores import ArtifactStore, join_uri
from pipelines.sdk.visualizations import MANIFEST, TYPES
from pipelines.storage import store_for_uri

logger = logging.getLogger(__name__)

# A version may list any number; the page shows the first few.
SHOWN = 12
MANIFEST_BYTES = 256 * 1024


@dataclass(frozen=True)
class Visualization:
    index: int
    name: str
    preview: Preview


def _entries(version: ArtifactVersion, store: ArtifactStore) -> list[tuple[str, str]]:
    path = join_uri(version.uri, MANIFEST)
    if not store.exists(path):
        return []
    raw = previews._head(store, path, MANIFEST_BYTES + 1)
    if len(raw) > MANIFEST_BYTES:
        return []
    recorded = json.loads(raw)
    if not isinstance(recorded, dict):
        return []
    entries = []
    # The file is in the store, where a step's code wrote it: trust nothing in it.
    for name, kind in sorted(recorded.items()):
        normal = posixpath.normpath(name) if isinstance(name, str) else ""
        if kind in TYPES and normal and not normal.startswith(("/", "..")) and normal not in (".", MANIFEST):
            entries.append((normal, kind))
    return entries[:SHOWN]


def visualizations_for(version: ArtifactVersion) -> list[Visualization]:
    """What the version page shows under Visualizations; empty when nothing was recorded."""
    try:
        store = store_for_uri(version.uri)
        entries = _entries(version, store)
    except Exception:  # the page's Preview already says when the files cannot be read
        logger.warning("Reading the visualizations of artifact version %s failed", version.id, exc_info=True)
        return []
    return [
        Visualization(index=index, name=name, preview=_preview(version, store, name, kind))
        for index, (name, kind) in enumerate(entries)
    ]


def _preview(version: ArtifactVersion, store: ArtifactStore, name: str, kind: str) -> Preview:
    uri = join_uri(version.uri, name)
    data_type = version.data_type
    try:
        size = store.size(uri)
        found = previews._Found(uri=uri, name=name, size=size, kind=kind)
        if kind in ("image", "html"):
            if size > previews.RAW_BYTES:
                return Preview(kind="none", data_type=data_type, reason="Too large to show.")
            if kind == "image" and previews._sniff_image(store, uri) is None:
                return Preview(kind="none", data_type=data_type, reason="Not a PNG, JPEG, GIF or WebP image.")
            return Preview(kind=kind, data_type=data_type)
        if kind == "csv":
            return previews._csv_preview(store, found, data_type, previews.TABLE_ROWS, previews.TEXT_BYTES)
        if kind == "json":
            return previews._json_preview(store, found, version, data_type, previews.TEXT_BYTES)
        text, truncated = previews._read_text(store, uri, previews.TEXT_BYTES)
        return Preview(kind=kind, data_type=data_type, text=text, truncated=truncated)
    except Exception as exc:  # one bad visualization must not break the page
        return Preview(kind="none", data_type=data_type, reason=previews._unreadable(version, exc))


def visualization_file(version: ArtifactVersion, index: int) -> RawFile | None:
    """The raw image or HTML of the version's `index`-th visualization, or None."""
    try:
        store = store_for_uri(version.uri)
        entries = _entries(version, store)
        if not 0 <= index < len(entries):
            return None
        name, kind = entries[index]
        uri = join_uri(version.uri, name)
        size = store.size(uri)
        if size > previews.RAW_BYTES:
            return None
        if kind == "html":
            return RawFile(uri=uri, content_type="text/html; charset=utf-8", size=size)
        if kind == "image":
            # Served only with the type its bytes prove.
            content_type = previews._sniff_image(store, uri)
            return RawFile(uri=uri, content_type=content_type, size=size) if content_type else None
    except Exception:
        logger.warning("Serving a visualization of artifact version %s failed", version.id, exc_info=True)
    return None
