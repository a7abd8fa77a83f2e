"""The import path artifact stores had before `pipelines.sdk.stores`; kept for callers."""

from __future__ import annotations

from pipelines.sdk.stores import LocalArtifactStore, atomic_open, atomic_write, tree_checksum

__all__ = ["LocalArtifactStore", "atomic_open", "atomic_write", "tree_checksum"]
