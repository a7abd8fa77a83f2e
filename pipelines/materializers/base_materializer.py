"""`from pipelines.materializers.base_materializer import BaseMaterializer`, as ZenML's."""

from __future__ import annotations

from pipelines.sdk.materializers.base import BaseMaterializer

__all__ = ["BaseMaterializer"]
