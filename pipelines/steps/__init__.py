"""`from pipelines.steps import get_step_context`, as `zenml.steps`."""

from __future__ import annotations

from pipelines.sdk.context import StepContext, get_step_context
from pipelines.sdk.step import step

__all__ = ["StepContext", "get_step_context", "step"]
