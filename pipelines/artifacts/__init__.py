"""`pipelines.artifacts.artifact_config` and `pipelines.artifacts.utils`, as `zenml.artifacts`."""

from __future__ import annotations

from pipelines.sdk.artifact_config import ArtifactConfig

__all__ = ["ArtifactConfig"]
