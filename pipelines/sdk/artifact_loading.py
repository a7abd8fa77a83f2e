"""Loading a stored artifact version back into a Python object."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipelines.sdk.source import load_source
from pipelines.sdk.stores.base import ArtifactFilesMissing, ArtifactIntegrityError, claims_from

if TYPE_CHECKING:
    from pipelines.sdk.stores import ArtifactStore

__all__ = ["ArtifactFilesMissing", "ArtifactIntegrityError", "load_artifact_version", "type_from_path"]


def type_from_path(path: str | None) -> Any:
    """Import the class named by `module.QualName`; `object` when unknown."""
    if not path:
        return object
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            continue
        return obj
    return object


def load_artifact_version(
    *,
    uri: str,
    materializer: str,
    data_type: str,
    checksum: str,
    store: ArtifactStore | None = None,
    inline_files: dict[str, str] | None = None,
    file_identities: object = None,
) -> Any:
    """The value stored at `uri`, after checking its files against `checksum`.

    `store` defaults to the store the uri itself names (`store_for_uri`), so a version
    written under an earlier store setting loads as long as that store is reachable.
    Missing or damaged files raise ArtifactFilesMissing / ArtifactIntegrityError
    naming the uri. A small version's `inline_files` (its row's copy) are loaded
    instead of the store's, checked against `checksum` the same way. The version's
    recorded `file_identities` spare hashing a file that is still the very file its
    writer hashed (see `pipelines.sdk.stores.base.claims_from`); garbage is ignored.
    """
    if inline_files:
        from pipelines.sdk.artifact_saving import inline_store

        memory = inline_store(uri, inline_files, checksum)
        return _reader(materializer, uri, memory).load(type_from_path(data_type))
    if store is None:
        from pipelines.sdk.stores import store_for_uri

        store = store_for_uri(uri)
    if not checksum:  # never recorded (or verified already while it downloaded): exists?
        _verify(store, uri, checksum)
        return _reader(materializer, uri, store).load(type_from_path(data_type))
    # The files are hashed as the materializer streams them, and the checksum is
    # compared before the value is returned: one read of a large array, not two.
    try:
        with store.verifying(uri, checksum, claims=claims_from(file_identities)) as check:
            value = _reader(materializer, uri, store).load(type_from_path(data_type))
    except Exception as exc:
        # Missing or damaged files may be why it failed: say so, naming the uri.
        _verify(store, uri, checksum, cause=exc)
        raise
    try:
        check.finish()
    except ArtifactIntegrityError:
        raise
    except FileNotFoundError as exc:
        raise ArtifactFilesMissing(f"The files of the artifact version at {uri} are missing ({exc}).") from exc
    return value


def _reader(materializer: str, uri: str, store: ArtifactStore) -> Any:
    reader = load_source(materializer)(uri)
    # Set after construction: a materializer may override __init__(self, uri).
    reader.artifact_store = store
    return reader


def _verify(store: ArtifactStore, uri: str, checksum: str, *, cause: BaseException | None = None) -> None:
    try:
        store.verify(uri, checksum)
    except ArtifactIntegrityError as exc:
        raise exc from cause
    except FileNotFoundError as exc:
        raise ArtifactFilesMissing(f"The files of the artifact version at {uri} are missing ({exc}).") from exc
