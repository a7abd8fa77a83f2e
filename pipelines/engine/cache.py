"""Step caching: the key that says two executions are the same, and the lookup.

The key covers what determines a step's outputs: its code (the function and the
module it lives in, via the code hash), its parameters, the exact input artifact
versions, its output names, types and materializers, and its extra configuration.
Whether caching is on, and retry settings, are left out: they do not change outputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from pipelines.models import ArtifactVersionStatus, StepRun, StepRunOutput, StepStatus
from pipelines.sdk.artifact_saving import restore_inline_files
from pipelines.sdk.stores import ArtifactIntegrityError
from pipelines.storage import store_for_uri

logger = logging.getLogger(__name__)

# The newest few identical steps are tried in turn; one with missing files is skipped.
MAX_CANDIDATES = 5


def cache_key(step_spec: dict[str, Any], input_version_ids: dict[str, int]) -> str:
    payload = {
        "source": step_spec["source"],
        "code_hash": step_spec.get("code_hash", ""),
        "parameters": step_spec.get("parameters", {}),
        "inputs": dict(sorted(input_version_ids.items())),
        "outputs": [
            [output["name"], output.get("type"), output.get("materializer")] for output in step_spec.get("outputs", [])
        ],
        "extra": step_spec.get("extra") or {},
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _files_intact(uri: str, checksum: str, inline_files: dict[str, str] | None = None) -> bool:
    """Whether the files at `uri` are all there and match `checksum` (read back in full).

    A small version kept in its row is whole as long as its row is: a store copy lost
    (it is written without an fsync) is put back from the row."""
    try:
        if inline_files:
            restore_inline_files(store=store_for_uri(uri), uri=uri, files=inline_files, checksum=checksum)
            return True
        store_for_uri(uri).verify(uri, checksum)
    except (ArtifactIntegrityError, OSError, ValueError, RuntimeError) as exc:
        logger.warning("Not reusing cached output at %s: %s", uri, exc)
        return False
    return True


def find_cached_outputs(
    *, key: str, step_spec: dict[str, Any], exclude_id: int
) -> tuple[StepRun, dict[str, int]] | None:
    """The newest earlier step with this key whose outputs are all ready and intact."""
    wanted = {output["name"] for output in step_spec.get("outputs", [])}
    candidates = (
        StepRun.objects.filter(cache_key=key, status__in=[StepStatus.COMPLETED, StepStatus.CACHED])
        .exclude(id=exclude_id)
        .order_by("-finished_at")[:MAX_CANDIDATES]
    )
    for candidate in candidates:
        links = list(
            StepRunOutput.objects.filter(step_run=candidate)
            .select_related("artifact_version")
            .only(
                "name",
                "artifact_version__id",
                "artifact_version__uri",
                "artifact_version__checksum",
                "artifact_version__inline_files",
                "artifact_version__status",
            )
        )
        outputs = {link.name: link.artifact_version for link in links}
        if set(outputs) != wanted:
            continue
        if all(
            version.status == ArtifactVersionStatus.READY
            and _files_intact(version.uri, version.checksum, version.inline_files)
            for version in outputs.values()
        ):
            return candidate, {name: version.id for name, version in outputs.items()}
    return None
