"""`load_artifact`: read a stored artifact by name, inside a step or from a script."""

from __future__ import annotations

from typing import Any


def load_artifact(name_or_id: str | int, version: str | int | None = None) -> Any:
    """The value of an artifact version (the latest when no version is given)."""
    from pipelines.sdk.client import Client

    return Client().get_artifact_version(name_or_id, version).load()
