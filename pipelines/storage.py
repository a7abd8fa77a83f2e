"""The configured artifact store, and the store of a recorded version.

New versions go to the store `PIPELINES["ARTIFACT_STORE"]` names (a local path by
default, or `s3://bucket/prefix`); an existing version is read from, and cleaned
up in, the store its own uri names, so versions written before the setting changed
stay readable as long as that store is reachable.
"""

from __future__ import annotations

from django.conf import settings

from pipelines.sdk.stores import ArtifactStore, store_from_url
from pipelines.sdk.stores import store_for_uri as _store_for_uri


def artifact_store() -> ArtifactStore:
    """The store new artifact versions are written to."""
    return store_from_url(settings.PIPELINES["ARTIFACT_STORE"])


def store_for_uri(uri: str) -> ArtifactStore:
    """The store holding the recorded version `uri` (the configured one when it is there)."""
    return _store_for_uri(uri, known=(artifact_store(),))
