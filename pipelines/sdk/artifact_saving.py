"""Writing one value as an artifact version: the path every step output takes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.sdk.visualizations import save_visualizations

if TYPE_CHECKING:
    from pipelines.sdk.materializers.base import BaseMaterializer
    from pipelines.sdk.stores import ArtifactStore


def save_artifact_value(
    *, store: ArtifactStore, uri: str, materializer: type[BaseMaterializer], value: Any
) -> tuple[BaseMaterializer, str, int]:
    """Save `value` below `uri` with `materializer`, then its visualizations (recorded
    in the folder, see `pipelines.sdk.visualizations`); returns (the saver, checksum, size).

    What the materializer streams through the file API is hashed on the way, so the
    checksum reads back only files written around it. Each file is durable (fsync on
    a local store, a completed upload on an object store) before this returns.
    """
    store.makedirs(uri)
    saver = materializer(uri)
    saver.artifact_store = store  # set after construction: __init__ may be overridden
    with store.recording(uri) as record:
        saver.save(value)
        save_visualizations(store=store, uri=uri, materializer=saver, value=value)
    checksum, size = store.checksum(uri, record=record)
    return saver, checksum, size
