"""`from pipelines.config.docker_settings import DockerSettings`, as `zenml.config.docker_settings`."""

from __future__ import annotations

from pipelines.sdk.settings import DockerSettings

__all__ = ["DockerSettings"]
