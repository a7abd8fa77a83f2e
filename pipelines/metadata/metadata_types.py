"""`from pipelines.metadata.metadata_types import Uri`, as ZenML's typed metadata values."""

from __future__ import annotations

from pipelines.sdk.metadata import DType, Path, StorageSize, Uri

__all__ = ["DType", "Path", "StorageSize", "Uri"]
