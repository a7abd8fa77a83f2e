"""Writing one value as an artifact version: the path every step output takes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipelines.sdk.stores.base import ArtifactIntegrityError
from pipelines.sdk.stores.memory import MemoryVersionStore
from pipelines.sdk.visualizations import save_visualizations

if TYPE_CHECKING:
    from pipelines.sdk.materializers.base import BaseMaterializer
    from pipelines.sdk.stores import ArtifactStore

logger = logging.getLogger(__name__)

# A version whose files come to no more than this is kept in its row as well
# (`ArtifactVersion.inline_files`), as Airflow keeps XComs and Dagster small outputs.
INLINE_LIMIT = 4 * 1024


def save_artifact_value(
    *,
    store: ArtifactStore,
    uri: str,
    materializer: type[BaseMaterializer],
    value: Any,
    file_identities: dict[str, list[Any]] | None = None,
) -> tuple[BaseMaterializer, str, int]:
    """Save `value` below `uri` with `materializer`, then its visualizations (recorded
    in the folder, see `pipelines.sdk.visualizations`); returns (the saver, checksum, size).

    What the materializer streams through the file API is hashed on the way, so the
    checksum reads back only files written around it. Each file is durable (fsync on
    a local store, a completed upload on an object store) before this returns.
    `file_identities`, if given, is filled with what to record with the version so
    that other processes load it without hashing it again (`ArtifactVersion.file_identities`).
    """
    store.makedirs(uri)
    saver = materializer(uri)
    saver.artifact_store = store  # set after construction: __init__ may be overridden
    with store.recording(uri) as record:
        saver.save(value)
        save_visualizations(store=store, uri=uri, materializer=saver, value=value)
    checksum, size = store.checksum(uri, record=record, identities=file_identities)
    return saver, checksum, size


def _inline_candidate(materializer: type[BaseMaterializer], value: Any) -> bool:
    """Whether `materializer` saves `value` as JSON through its store alone: the
    built-in materializers for JSON-exact values (the ones they would pickle go
    through `fileio`, straight to the configured store)."""
    from pipelines.sdk.materializers import builtin

    if materializer is builtin.BuiltInMaterializer:
        return type(value) in builtin._SCALAR_TYPES and (not isinstance(value, str) or len(value) <= INLINE_LIMIT)
    if materializer is builtin.BuiltInContainerMaterializer:
        return type(value) in builtin._CONTAINER_KINDS and builtin._is_json_representable(value)
    return False


def save_small_artifact_value(
    *,
    store: ArtifactStore,
    uri: str,
    materializer: type[BaseMaterializer],
    value: Any,
    before_durable_write: Callable[[], object] | None = None,
) -> tuple[BaseMaterializer, str, int, dict[str, str] | None] | None:
    """Save a small JSON-able value (int, float, str, bool, None, plain dict/list...)
    the way the step's completion can keep in its row: None when `value` is not one.

    The materializer writes into memory; if its files (visualizations included) come
    to at most `INLINE_LIMIT` bytes of ASCII they are returned, to be committed in the
    row with the step's end, and the copy in `store` (for the readers of files: the
    download, the preview) is written without waiting for the disk. Larger, they are
    written to `store` durably, as `save_artifact_value` would, and None comes back
    in their place, after calling `before_durable_write`. Returns (the saver,
    checksum, size, files or None).
    """
    if not _inline_candidate(materializer, value):
        return None
    if any(True for _ in store.walk(uri)):
        return None  # the step wrote files there itself: they belong to the version too
    memory = MemoryVersionStore(uri)
    saver = materializer(uri)
    saver.artifact_store = memory
    saver.save(value)
    save_visualizations(store=memory, uri=uri, materializer=saver, value=value)
    checksum, size = memory.checksum_of_files()
    files = _as_text(memory.files) if 0 < size <= INLINE_LIMIT else None
    if files is None and before_durable_write is not None:
        before_durable_write()
    store.makedirs(uri)
    store.write_files(uri, memory.files, durable=files is None)
    saver.artifact_store = store
    return saver, checksum, size, files


def _as_text(files: dict[str, bytes]) -> dict[str, str] | None:
    try:
        return {path: data.decode("ascii") for path, data in files.items()}
    except UnicodeDecodeError:
        return None


def inline_store(uri: str, files: dict[str, str], checksum: str) -> MemoryVersionStore:
    """The version kept in a row, as a store to load it from, checked against `checksum`."""
    memory = MemoryVersionStore(uri, {path: text.encode("ascii") for path, text in files.items()})
    found, _ = memory.checksum_of_files()
    if checksum and found != checksum:
        raise ArtifactIntegrityError(
            f"The copy of the artifact version at {uri} kept in its database row does not match "
            f"its checksum (expected {checksum[:12]}…, found {found[:12]}…); re-run the producing step."
        )
    return memory


def restore_inline_files(*, store: ArtifactStore, uri: str, files: dict[str, str], checksum: str) -> bool:
    """Put back the store's copy of a version kept in its row when it is missing or
    damaged (it is written without an fsync, so a power cut may take it). Returns
    whether it had to."""
    try:
        store.verify(uri, checksum)
        return False
    except (ArtifactIntegrityError, OSError):
        pass
    memory = inline_store(uri, files, checksum)
    logger.warning("Restoring the files of the artifact version at %s from its database row", uri)
    store.remove(uri)
    store.makedirs(uri)
    store.write_files(uri, memory.files)
    return True
