"""`from pipelines.types import HTMLString`, as `zenml.types`."""

from __future__ import annotations

from pipelines.sdk.types import CSVString, HTMLString, MarkdownString

__all__ = ["CSVString", "HTMLString", "MarkdownString"]
