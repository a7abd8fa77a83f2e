"""Pipelines: the SDK users import (`from pipelines import step, pipeline`) and, as a
Django app, the server side (models, services, engine, API).

Only the SDK is imported here; it imports no Django.
"""

from __future__ import annotations

from pipelines.sdk import (
    AuthenticationError,
    NonRetryableError,
    NoWorkerError,
    Pipeline,
    PipelineDefinitionError,
    PipelinesError,
    RunFailedError,
    ServerError,
    Step,
    StepContext,
    StepContextError,
    StepRetryConfig,
    get_step_context,
    pipeline,
    step,
)

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
