"""Loading a stored artifact version back into a Python object."""

from __future__ import annotations

import importlib
from typing import Any

from pipelines.sdk.source import load_source


class ArtifactIntegrityError(Exception):
    """The stored files of an artifact version no longer match their checksum."""


def type_from_path(path: str | None) -> Any:
    """Import the class named by `module.QualName`; `object` when unknown."""
    if not path:
        return object
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            continue
        return obj
    return object


def load_artifact_version(*, uri: str, materializer: str, data_type: str, checksum: str) -> Any:
    from pipelines.sdk.artifact_store import tree_checksum

    actual, _ = tree_checksum(uri)
    if checksum and actual != checksum:
        raise ArtifactIntegrityError(
            f"The files at {uri} do not match the checksum recorded when they were saved "
            f"(expected {checksum[:12]}…, found {actual[:12]}…). They were changed or damaged "
            "after the step wrote them; re-run the producing step to recreate them."
        )
    materializer_cls = load_source(materializer)
    return materializer_cls(uri).load(type_from_path(data_type))
