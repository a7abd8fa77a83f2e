"""Artifact stores: where artifact bytes live, behind one interface.

`store_from_url` makes the store a URL names (a local path, `file://`, `s3://`,
`gs://`, `az://`); `store_for_uri` finds the store a recorded version uri lives in,
so versions written under an earlier setting stay readable. See `base.ArtifactStore`.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from pipelines.sdk.stores.base import (
    VERSION_PATH,
    ArtifactFilesMissing,
    ArtifactIntegrityError,
    ArtifactStore,
    StoreConfigError,
    StoreError,
    StoreUnreachable,
    WriteRecord,
    join_uri,
    manifest_digest,
)
from pipelines.sdk.stores.local import LocalArtifactStore, atomic_open, atomic_write, tree_checksum
from pipelines.sdk.stores.objects import SCHEMES, ObjectArtifactStore, isolate_this_process, parse_store_url

__all__ = [
    "ArtifactFilesMissing",
    "ArtifactIntegrityError",
    "ArtifactStore",
    "LocalArtifactStore",
    "ObjectArtifactStore",
    "StoreConfigError",
    "StoreError",
    "StoreUnreachable",
    "WriteRecord",
    "atomic_open",
    "atomic_write",
    "check_store_url",
    "isolate_this_process",
    "join_uri",
    "manifest_digest",
    "store_for_path",
    "store_for_uri",
    "store_from_url",
    "tree_checksum",
]

_cache: dict[tuple[str, tuple[tuple[str, str], ...]], ArtifactStore] = {}
_cache_lock = threading.Lock()


def _credentials_environment() -> tuple[tuple[str, str], ...]:
    # A store client reads its credentials when made; a changed environment (a test,
    # a rotated key file) must give a new client, not a cached one.
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("AWS_", "GOOGLE_", "AZURE_"))))


def check_store_url(url: str) -> str:
    """`url` in the form stores take it (a local path, or a checked s3/gs/az URL); no I/O.

    Raises StoreConfigError naming the URL when it is malformed or unsupported.
    """
    if not isinstance(url, str) or not url.strip():
        raise StoreConfigError(f"The artifact store URL must be a non-empty string, got {url!r}.")
    url = url.strip()
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise StoreConfigError(f"The artifact store URL {url!r} names a host; a file:// URL must be local.")
        url = parts.path
        scheme = ""
    if not scheme:
        if not os.path.isabs(url):
            raise StoreConfigError(
                f"The artifact store path {url!r} is not absolute; give an absolute path or s3://bucket/prefix."
            )
        return url
    if scheme not in SCHEMES:
        raise StoreConfigError(
            f"The artifact store URL {url!r} has an unsupported scheme {scheme!r}; use an absolute path, "
            "s3://bucket/prefix, gs://bucket/prefix or az://container/prefix."
        )
    parse_store_url(url)
    return url


def store_from_url(url: str) -> ArtifactStore:
    """The store `url` names: a local path (or file:// URL), or s3/gs/az://bucket/prefix."""
    url = check_store_url(url)
    if not urlsplit(url).scheme:
        return LocalArtifactStore(url)
    key = (url.rstrip("/"), _credentials_environment())
    with _cache_lock:
        store = _cache.get(key)
        if store is None:
            store = _cache[key] = ObjectArtifactStore(url)
    return store


def _root_of(uri: str) -> str:
    match = VERSION_PATH.search(uri)
    if match is None:
        raise ValueError(
            f"Artifact uri {uri!r} is not a version uri of any artifact store (…/runs/<id>/steps/<id>/"
            "attempt-<n>/<index> or …/saved/<id>)."
        )
    return uri[: match.start()]


def store_for_uri(uri: str, *, known: tuple[ArtifactStore, ...] = ()) -> ArtifactStore:
    """The store holding the recorded version uri `uri` (or a file below it).

    A store in `known` (the configured one) that contains `uri` is preferred; else the
    store is made from the uri itself, by scheme and bucket, its root being what
    precedes the id-built path. Uris that are not shaped like version uris, or that
    leave their root ('..', NUL, symlinks out), are refused with ValueError.
    """
    if not isinstance(uri, str) or "\0" in uri:
        raise ValueError(f"Artifact uri {uri!r} is not a str without NUL bytes.")
    for store in known:
        if store.contains(uri):
            return store
    root = _root_of(uri)
    scheme = urlsplit(uri).scheme.lower()
    if scheme in SCHEMES:
        store = store_from_url(root)
    elif not scheme and os.path.isabs(uri):
        store = LocalArtifactStore(root or "/")
    else:
        raise ValueError(f"Artifact uri {uri!r} is neither an absolute path nor an s3://, gs:// or az:// uri.")
    if not store.contains(uri):
        raise ValueError(f"Artifact uri {uri!r} is not inside the artifact store {store.root_uri!r}.")
    return store


def store_for_path(path: str) -> ArtifactStore:
    """The store for any path the file API is given, version uri or not.

    A version uri gets its own store (as `store_for_uri`); any other local path gets
    a store over the whole filesystem, and any other object uri one over its bucket,
    as ZenML's fileio works on any path.
    """
    try:
        return store_for_uri(path)
    except ValueError:
        pass
    scheme = urlsplit(path).scheme.lower()
    if scheme in SCHEMES:
        parts = urlsplit(path)
        return store_from_url(f"{scheme}://{parts.netloc}")
    if scheme == "file":
        return LocalArtifactStore("/")
    if not os.path.isabs(path):
        raise ValueError(f"{path!r} is not an absolute path or an s3://, gs:// or az:// uri.")
    return LocalArtifactStore("/")
