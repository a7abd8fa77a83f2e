"""`from pipelines.client import Client`, as in ZenML."""

from __future__ import annotations

from pipelines.sdk.client import Client

__all__ = ["Client"]
