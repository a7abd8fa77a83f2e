"""Writing run metadata. Every write is a new row; readers take the latest per key."""

from __future__ import annotations

import json
from typing import Any

from pipelines.models import RunMetadata
from pipelines.sdk.metadata import _PLAIN, _TYPED, MAX_KEY_LENGTH, MAX_VALUE_BYTES, MetadataError

KNOWN_TYPES = frozenset(_TYPED) | frozenset(_PLAIN.values())


def _check(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or set(entry) - {"key", "value", "type"} or "key" not in entry:
        raise MetadataError('Each metadata entry must be {"key": ..., "value": ..., "type": ...}.')
    key, kind = entry["key"], entry.get("type", "")
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise MetadataError(f"Metadata keys must be non-empty strings of at most {MAX_KEY_LENGTH} characters.")
    if kind not in KNOWN_TYPES:
        raise MetadataError(f"Unknown metadata type {kind!r}; known: {', '.join(sorted(KNOWN_TYPES))}.")
    if len(json.dumps(entry.get("value")).encode()) > MAX_VALUE_BYTES:
        raise MetadataError(f"The value of metadata key {key!r} is over {MAX_VALUE_BYTES} bytes.")
    return entry


def run_metadata_create(
    *,
    entries: list[dict[str, Any]],
    artifact_version_id: int | None = None,
    step_run_id: int | None = None,
    pipeline_run_id: int | None = None,
    model_version_id: int | None = None,
    logged_by_id: int | None = None,
) -> list[RunMetadata]:
    """Store metadata entries on exactly one target. Raises MetadataError on bad input."""
    targets = [t for t in (artifact_version_id, step_run_id, pipeline_run_id, model_version_id) if t is not None]
    if len(targets) != 1:
        raise MetadataError(
            "Metadata needs exactly one target: an artifact version, a step run, a run or a model version."
        )
    if not isinstance(entries, list):
        raise MetadataError("Metadata entries must be a list.")
    return RunMetadata.objects.bulk_create(
        [
            RunMetadata(
                key=entry["key"],
                value=entry.get("value"),
                type=entry["type"],
                artifact_version_id=artifact_version_id,
                step_run_id=step_run_id,
                pipeline_run_id=pipeline_run_id,
                model_version_id=model_version_id,
                logged_by_id=logged_by_id,
            )
            for entry in map(_check, entries)
        ]
    )
