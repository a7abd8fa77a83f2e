"""`from pipelines.artifacts.utils import save_artifact`, as `zenml.artifacts.utils`.

A re-export under ZenML's module name, not a helpers module of ours.
"""

from __future__ import annotations

from pipelines.sdk.artifact_registration import register_artifact
from pipelines.sdk.artifacts_api import load_artifact, save_artifact
from pipelines.sdk.metadata_logging import log_artifact_metadata

__all__ = ["load_artifact", "log_artifact_metadata", "register_artifact", "save_artifact"]
