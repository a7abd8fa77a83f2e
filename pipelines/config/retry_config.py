"""`from pipelines.config.retry_config import StepRetryConfig`, as ZenML's."""

from __future__ import annotations

from pipelines.sdk.retry import StepRetryConfig

__all__ = ["StepRetryConfig"]
