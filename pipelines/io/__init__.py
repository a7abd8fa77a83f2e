"""`from pipelines.io import fileio`, as ZenML's `from zenml.io import fileio`."""

from __future__ import annotations

from pipelines.sdk import fileio

__all__ = ["fileio"]
