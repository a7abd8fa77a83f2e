"""`from pipelines.artifacts.external_artifact import ExternalArtifact`, as ZenML's."""

from __future__ import annotations

from pipelines.sdk.external_artifact import ExternalArtifact

__all__ = ["ExternalArtifact"]
