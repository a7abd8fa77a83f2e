"""`from pipelines.config.resource_settings import ResourceSettings`, as `zenml.config.resource_settings`."""

from __future__ import annotations

from pipelines.sdk.settings import ResourceSettings

__all__ = ["ResourceSettings"]
