"""How a Client reads an artifact version: from its store, or through the server.

A laptop, a notebook or a CI job often cannot reach the artifact store (no
credentials for the bucket, no mount of the workers' disk), while the server can.
`PIPELINES_ARTIFACT_ACCESS` chooses:

- `auto` (the default): read the store; when that fails because the store cannot
  be reached (missing path, permission, credentials, connection), download the
  version from `GET /api/v1/artifact-versions/{id}/download/` instead. A store that
  refused this process (not just a missing path) is not asked again for five
  minutes. Said once per store and process, at INFO, with the reason.
- `store`: the store only (a worker, or a machine that must not pull bytes through
  the server).
- `server`: always through the server.

A download is streamed to a temporary folder, checked against the version's
checksum, loaded by the version's materializer from that copy, and removed.
Damaged bytes raise ArtifactIntegrityError naming the version's uri, whichever way
they were read. A small version kept in its database row (`inline_files`) is the
exception: its store copy, written without an fsync, may be lost or torn by a power
cut, so in `auto` and `store` modes a failed read of it asks the server to put the
copy back from the row (a HEAD of the download route, no bytes sent) and reads the
store once more.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.sdk.artifact_saving import INLINE_LIMIT
from pipelines.sdk.current_step import current_step_context
from pipelines.sdk.exceptions import ServerError
from pipelines.sdk.stores import (
    ArtifactFilesMissing,
    ArtifactIntegrityError,
    StoreError,
    manifest_digest,
    store_for_path,
)
from pipelines.sdk.stores.base import VERSION_PATH, FileHash

if TYPE_CHECKING:
    from pipelines.sdk.client import Client

ACCESS_VARIABLE = "PIPELINES_ARTIFACT_ACCESS"
ACCESS_MODES = ("auto", "store", "server")
CHUNK_BYTES = 1024 * 1024
# What the download endpoint says about the bytes it sends (none of it secret).
DOWNLOAD_HEADERS = ("X-Artifact-Layout", "X-Artifact-Uri", "X-Artifact-Size", "X-Checksum-Sha256")

logger = logging.getLogger("pipelines.sdk.artifacts")

# Stores (by root) this process could not use at all (credentials, permission,
# connection), and when: loads from them go straight to the server for a while, then
# the store is tried again (a long-lived process may get its mount or network back).
_unreachable: dict[str, float] = {}
RETRY_STORE_AFTER_SECONDS = 300.0
# Stores whose fallback was logged: once per store and process.
_said: set[str] = set()
_lock = threading.Lock()


def access_mode() -> str:
    value = os.environ.get(ACCESS_VARIABLE, "").strip().lower() or "auto"
    if value not in ACCESS_MODES:
        raise ValueError(
            f"{ACCESS_VARIABLE}={os.environ[ACCESS_VARIABLE]!r} is not one of {', '.join(ACCESS_MODES)}: "
            "auto reads the artifact store and falls back to the server, store reads the store only, "
            "server always downloads through the server."
        )
    return value


def store_errors() -> tuple[type[BaseException], ...]:
    """What a store raises when it cannot be reached (obstore's errors are not OSErrors)."""
    errors: tuple[type[BaseException], ...] = (OSError, StoreError)
    try:
        from obstore.exceptions import BaseError
    except ImportError:
        return errors
    return (*errors, BaseError)


def _store_key(uri: str) -> str:
    match = VERSION_PATH.search(uri)
    return uri[: match.start()] if match else uri


class ArtifactVersionDeleted(ArtifactFilesMissing):
    """The version was deleted (by `prune`) while this process was loading it."""


def load_version(
    *,
    uri: str,
    materializer: str,
    data_type: str,
    checksum: str,
    version_id: int | None = None,
    size: int | None = None,
    client: Client | None = None,
    file_identities: object = None,
) -> Any:
    """The value of one artifact version, read as `PIPELINES_ARTIFACT_ACCESS` says.

    Without a `client` and `version_id` there is no server to fall back on: the
    store is read, as a worker does. Files that vanish while they are read fail the
    checksum, never give a half-read value; when the server then no longer knows the
    version, ArtifactVersionDeleted says it was deleted (by prune) meanwhile. The
    version's recorded `file_identities` spare hashing a store file its writer
    hashed that is still the same file (see `load_artifact_version`).
    """
    try:
        return _load_version(
            uri=uri,
            materializer=materializer,
            data_type=data_type,
            checksum=checksum,
            version_id=version_id,
            size=size,
            client=client,
            file_identities=file_identities,
        )
    except (ArtifactIntegrityError, ServerError) as exc:
        if client is None or version_id is None:
            raise
        if isinstance(exc, ServerError) and exc.status_code != 404:
            raise
        gone = _deleted_detail(client, version_id)
        if gone is None:
            raise
        who = "this step" if current_step_context() is not None else "this process"
        raise ArtifactVersionDeleted(
            f"Artifact version {version_id} was deleted while {who} was loading it ({gone}). "
            "Its files are gone: load another version, or re-run the step that produced it."
        ) from exc


def _deleted_detail(client: Client, version_id: int) -> str | None:
    """What the server says of a version it no longer has (None: it still has it)."""
    try:
        client._request("GET", f"artifact-versions/{int(version_id)}/")
    except ServerError as exc:
        if exc.status_code == 404:
            # "GET artifact-versions/12/ failed (404): <the server's detail>"
            return str(exc).split("): ", 1)[-1].rstrip(".") or "no longer recorded"
        return None
    return None


def _load_version(
    *,
    uri: str,
    materializer: str,
    data_type: str,
    checksum: str,
    version_id: int | None,
    size: int | None,
    client: Client | None,
    file_identities: object = None,
) -> Any:
    mode = access_mode()
    details = {"uri": uri, "materializer": materializer, "data_type": data_type, "checksum": checksum}
    from_store = {**details, "file_identities": file_identities}
    if client is None or version_id is None:
        return load_artifact_version(**from_store)
    if mode == "store":
        try:
            return load_artifact_version(**from_store)
        except ArtifactIntegrityError:  # ArtifactFilesMissing included
            if not _restored_by_server(client, version_id, size):
                raise
        return load_artifact_version(**from_store)
    key = _store_key(uri)
    failed_at = _unreachable.get(key)
    if mode == "auto" and (failed_at is None or time.monotonic() - failed_at > RETRY_STORE_AFTER_SECONDS):
        try:
            return load_artifact_version(**from_store)
        except ArtifactFilesMissing as exc:
            # Not here, which may mean not mounted here, or gone from the store: the
            # server tells which (and puts back a small version's copy from its row).
            # The next version is looked for in the store again.
            reason, unusable = str(exc), False
        except ArtifactIntegrityError:
            # The store was read and the bytes are wrong: nothing is fetched from
            # elsewhere, but a small version kept in its row is put back and read again.
            if not _restored_by_server(client, version_id, size):
                raise
            return load_artifact_version(**from_store)
        except store_errors() as exc:
            reason, unusable = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", True
        with _lock:
            first = key not in _said
            _said.add(key)
            if unusable:
                _unreachable[key] = time.monotonic()
        if first:
            logger.info(
                "The artifact store %s cannot be read from this process (%s); loading its artifacts through "
                "the server %s instead. Set %s=store to forbid this, or =server to skip the store.",
                key or "/",
                reason.rstrip(": "),
                client.server_url,
                ACCESS_VARIABLE,
            )
    return load_through_server(client, version_id=version_id, size=size, **details)


def _restored_by_server(client: Client, version_id: int, size: int | None) -> bool:
    """Ask the server to put back the store copy of a small version kept in its row
    (written without an fsync, it may be lost or torn by a power cut): a HEAD of the
    download route does that and sends no bytes. False when the version is too large
    to be kept in a row or the server could not (its copy is damaged too: the
    caller's own error says so)."""
    if size and size > INLINE_LIMIT:
        return False
    try:
        client._request("HEAD", f"artifact-versions/{int(version_id)}/download/")
    except ServerError:
        return False
    return True


def load_through_server(
    client: Client,
    *,
    version_id: int,
    uri: str,
    materializer: str,
    data_type: str,
    checksum: str,
    size: int | None = None,
) -> Any:
    """Download the version into a temporary folder, verify it, load it, remove the copy."""
    with tempfile.TemporaryDirectory(prefix="pipelines-artifact-") as folder:
        local = client.download_artifact_version(version_id, folder, checksum=checksum, size=size, uri=uri)
        # Verified while it streamed: the materializer reads the copy, not checked again.
        return load_artifact_version(
            uri=local, materializer=materializer, data_type=data_type, checksum="", store=store_for_path(local)
        )


# --- the download itself (called by Client.download_artifact_version) ----------------


def safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:150]
    return cleaned or "data"


def save_download(
    fetch: Callable[[Callable[[bytes], object]], dict[str, str]],
    *,
    folder: str,
    version_id: int,
    uri: str,
    checksum: str,
    size: int | None,
) -> str:
    """Stream a download into `folder`; returns the local copy's path.

    `fetch(write)` performs the request, handing the body to `write`, and returns
    its headers. A folder arrives as a zip and is unpacked below
    `<folder>/saved/<version_id>`; a file is placed there under its own name. The
    copy is checked against `checksum` (and `size`) before it is returned.
    """
    root = Path(folder) / "saved" / str(version_id)
    root.mkdir(parents=True)
    part = Path(folder) / f".download-{version_id}.part"
    file_hash = FileHash()
    received = 0

    try:
        with open(part, "xb") as sink:

            def write(chunk: bytes) -> None:
                nonlocal received
                received += len(chunk)
                file_hash.update(chunk)
                sink.write(chunk)

            headers = fetch(write)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    uri = uri or unquote(headers.get("X-Artifact-Uri", "")) or f"(artifact version {version_id})"
    if size is None and headers.get("X-Artifact-Size", "").isdigit():
        size = int(headers["X-Artifact-Size"])
    layout = headers.get("X-Artifact-Layout", "")
    expected = checksum or headers.get("X-Checksum-Sha256", "")
    if layout == "folder":
        entries = _unzip(part, root, limit=size, uri=uri)
        part.unlink()
        local = str(root)
    elif layout == "file":
        target = root / safe_name(uri.rstrip("/").rsplit("/", 1)[-1])
        part.replace(target)
        entries = [("", received, file_hash.hexdigest())]
        local = str(target)
    else:
        raise ArtifactIntegrityError(
            f"The server's download of artifact version {version_id} ({uri}) did not say whether it is a "
            "file or a folder (no X-Artifact-Layout header): is the server older than this SDK?"
        )
    total = sum(entry[1] for entry in entries)
    problem = None
    if size is not None and size and total != size:
        problem = f"{total} bytes arrived, {size} were recorded"
    elif expected and manifest_digest(entries) != expected:
        # Versions recorded before BLAKE3 (a SHA-256 manifest, or before that the tree
        # digest) are checked by the store's own check, which knows them.
        try:
            store_for_path(local).verify(local, expected)
        except ArtifactIntegrityError:
            problem = f"the bytes do not match the recorded checksum {expected[:12]}…"
    if problem:
        raise ArtifactIntegrityError(
            f"The files of artifact version {version_id} at {uri}, downloaded through the server, are damaged: "
            f"{problem}. Re-run the producing step to recreate them."
        )
    return local


def _unzip(part: Path, root: Path, *, limit: int | None, uri: str) -> list[tuple[str, int, str]]:
    """Unpack the server's zip below `root`, hashing each file as it is written.

    Entry names are checked (no absolute paths, no '..'), and unpacking stops past
    the recorded size: a damaged or hostile archive cannot write outside `root` or
    fill the disk.
    """
    entries = []
    written = 0
    try:
        archive = zipfile.ZipFile(part)
    except zipfile.BadZipFile as exc:
        raise ArtifactIntegrityError(f"The download of {uri} is not a readable zip archive ({exc}).") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            parts = name.split("/")
            if "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in parts):
                raise ArtifactIntegrityError(f"The download of {uri} holds an unsafe entry name {name!r}.")
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = FileHash()
            size = 0
            try:
                with archive.open(info) as source, open(target, "xb") as sink:
                    while chunk := source.read(CHUNK_BYTES):
                        size += len(chunk)
                        written += len(chunk)
                        if limit and written > limit:
                            raise ArtifactIntegrityError(
                                f"The download of {uri} unpacks to more than the {limit} bytes recorded."
                            )
                        digest.update(chunk)
                        sink.write(chunk)
            except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
                raise ArtifactIntegrityError(f"The download of {uri} is a damaged zip archive ({exc}).") from None
            entries.append((name, size, digest.hexdigest()))
    return entries
