"""Pipelines: the SDK users import (`from pipelines import step, pipeline`) and, as a
Django app, the server side (models, services, engine, API).

Only the SDK is imported here; it imports no Django.
"""

from __future__ import annotations

from pipelines.sdk import (
    ArtifactConfig,
    AuthenticationError,
    DType,
    MetadataError,
    Model,
    NonRetryableError,
    NoWorkerError,
    Path,
    Pipeline,
    PipelineDefinitionError,
    PipelinesError,
    RunFailedError,
    ServerError,
    Step,
    StepContext,
    StepContextError,
    StepRetryConfig,
    StorageSize,
    Uri,
    get_step_context,
    load_artifact,
    log_artifact_metadata,
    log_metadata,
    log_model_metadata,
    log_step_metadata,
    pipeline,
    save_artifact,
    step,
)

__all__ = [
    "ArtifactConfig",
    "AuthenticationError",
    "DType",
    "MetadataError",
    "Model",
    "NoWorkerError",
    "NonRetryableError",
    "Path",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelinesError",
    "RunFailedError",
    "ServerError",
    "Step",
    "StepContext",
    "StepContextError",
    "StepRetryConfig",
    "StorageSize",
    "Uri",
    "get_step_context",
    "load_artifact",
    "log_artifact_metadata",
    "log_metadata",
    "log_model_metadata",
    "log_step_metadata",
    "pipeline",
    "save_artifact",
    "step",
]
