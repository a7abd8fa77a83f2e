"""The user-facing SDK. It imports no Django, so user code and workers share it."""

from __future__ import annotations

from pipelines.sdk.context import StepContext, get_step_context
from pipelines.sdk.exceptions import (
    AuthenticationError,
    NonRetryableError,
    NoWorkerError,
    PipelineDefinitionError,
    PipelinesError,
    RunFailedError,
    ServerError,
    StepContextError,
)
from pipelines.sdk.pipeline import Pipeline, pipeline
from pipelines.sdk.retry import StepRetryConfig
from pipelines.sdk.step import Step, step

__all__ = [
    "AuthenticationError",
    "NoWorkerError",
    "NonRetryableError",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelinesError",
    "RunFailedError",
    "ServerError",
    "Step",
    "StepContext",
    "StepContextError",
    "StepRetryConfig",
    "get_step_context",
    "pipeline",
    "step",
]
