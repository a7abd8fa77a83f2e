"""What a materializer's `save_visualizations` returned, kept beside the version's files.

The map is written into the version's own folder as `_visualizations.json` (paths
relative to it), so it is checksummed with the files, travels with downloads and
copies, and the dashboard reads it through the store like any other file.
"""

from __future__ import annotations

import json
import logging
import posixpath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.sdk.materializers.base import BaseMaterializer
    from pipelines.sdk.stores import ArtifactStore

logger = logging.getLogger("pipelines.materializers")

MANIFEST = "_visualizations.json"
TYPES = frozenset({"image", "html", "markdown", "csv", "json", "text"})


def save_visualizations(
    *, store: ArtifactStore, uri: str, materializer: BaseMaterializer, value: Any
) -> dict[str, str]:
    """Call `materializer.save_visualizations(value)` and record what it returns.

    A failing or odd visualization is logged and left out, never fails the save: the
    value is what the step produced, a preview is a nicety (as in ZenML). Returns
    the recorded {relative path: type}.
    """
    try:
        returned = materializer.save_visualizations(value) or {}
        items = list(returned.items())
    except Exception as exc:
        logger.warning("%s.save_visualizations failed: %s: %s", type(materializer).__name__, type(exc).__name__, exc)
        return {}
    recorded: dict[str, str] = {}
    for path, kind in items:
        relative = _relative(uri, str(path))
        kind = getattr(kind, "value", kind)  # a ZenML-style enum member
        if relative is None or kind not in TYPES:
            logger.warning(
                "%s.save_visualizations returned %r (%r): visualizations are files below the "
                "artifact's uri with a type among %s; left out.",
                type(materializer).__name__,
                path,
                kind,
                ", ".join(sorted(TYPES)),
            )
            continue
        recorded[relative] = kind
    if recorded:
        with store.open(f"{uri.rstrip('/')}/{MANIFEST}", "wb") as handle:
            handle.write(json.dumps(recorded, sort_keys=True).encode())
    return recorded


def _relative(uri: str, path: str) -> str | None:
    base = uri.rstrip("/").replace("\\", "/")
    path = path.replace("\\", "/")
    if not path.startswith(base + "/"):
        return None
    relative = posixpath.normpath(path[len(base) + 1 :])
    if relative.startswith("../") or relative in ("..", ".", MANIFEST) or relative.startswith("/"):
        return None
    return relative
