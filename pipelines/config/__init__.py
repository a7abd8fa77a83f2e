"""`from pipelines.config import StepRetryConfig`, as `zenml.config`.

Not the Django settings (those are the top-level `config` package).
"""

from __future__ import annotations

from pipelines.sdk.retry import StepRetryConfig

__all__ = ["StepRetryConfig"]
