"""`from pipelines.config import StepRetryConfig, Schedule, ResourceSettings, DockerSettings`,
as `zenml.config`.

Not the Django settings (those are the top-level `config` package).
"""

from __future__ import annotations

from pipelines.sdk.retry import StepRetryConfig
from pipelines.sdk.schedules import Schedule
from pipelines.sdk.settings import DockerSettings, ResourceSettings

__all__ = ["DockerSettings", "ResourceSettings", "Schedule", "StepRetryConfig"]
