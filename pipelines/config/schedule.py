"""`from pipelines.config.schedule import Schedule`, as `zenml.config.schedule`."""

from __future__ import annotations

from pipelines.sdk.schedules import Schedule

__all__ = ["Schedule"]
