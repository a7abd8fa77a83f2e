"""`from pipelines.artifacts.artifact_config import ArtifactConfig`, as ZenML's."""

from __future__ import annotations

from pipelines.sdk.artifact_config import ArtifactConfig

__all__ = ["ArtifactConfig"]
