"""`from pipelines.enums import ModelStages`, as `zenml.enums`."""

from __future__ import annotations

from pipelines.sdk.enums import ExecutionStatus, ModelStages, VisualizationType

__all__ = ["ExecutionStatus", "ModelStages", "VisualizationType"]
