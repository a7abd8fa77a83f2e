"""The user-facing SDK. It imports no Django, so user code and workers share it."""

from __future__ import annotations

from pipelines.sdk.artifact_config import ArtifactConfig
from pipelines.sdk.artifact_registration import link_artifact_to_model, register_artifact
from pipelines.sdk.artifacts_api import load_artifact, save_artifact
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
from pipelines.sdk.external_artifact import ExternalArtifact
from pipelines.sdk.metadata import DType, MetadataError, Path, StorageSize, Uri
from pipelines.sdk.metadata_logging import (
    log_artifact_metadata,
    log_metadata,
    log_model_metadata,
    log_step_metadata,
)
from pipelines.sdk.model import Model
from pipelines.sdk.pipeline import Pipeline, pipeline
from pipelines.sdk.retry import StepRetryConfig
from pipelines.sdk.step import Step, step
from pipelines.sdk.tags import add_tags, remove_tags

__all__ = [
    "ArtifactConfig",
    "AuthenticationError",
    "DType",
    "ExternalArtifact",
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
    "add_tags",
    "get_step_context",
    "link_artifact_to_model",
    "load_artifact",
    "log_artifact_metadata",
    "log_metadata",
    "log_model_metadata",
    "log_step_metadata",
    "pipeline",
    "register_artifact",
    "remove_tags",
    "save_artifact",
    "step",
]
