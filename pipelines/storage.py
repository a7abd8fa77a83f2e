"""The configured artifact store."""

from __future__ import annotations

from django.conf import settings

from pipelines.sdk.artifact_store import LocalArtifactStore


def artifact_store() -> LocalArtifactStore:
    return LocalArtifactStore(settings.PIPELINES["ARTIFACT_STORE_ROOT"])
