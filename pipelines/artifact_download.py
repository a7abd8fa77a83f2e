"""A ready artifact version's bytes as an HTTP download, read through its store.

One implementation for the API's `artifact-versions/{id}/download/` and the
dashboard's Download button: a single-file version is sent as is, a folder as a zip
built while it streams. Everything is read through `store_for_uri(version.uri)`, so
the web server needs no mount and works the same on a local or an object store.

Before the first byte is sent the files are listed and their total size compared
with the version's recorded size; a small version is also checksummed (it costs one
more read of a few megabytes), so missing or damaged bytes are answered with an
error naming the version's URI instead of a broken stream. A large one is checked
by whoever receives it, against the `X-Checksum-Sha256` header (the Client does).

A small version kept in its row (`inline_files`) whose store copy is missing or
damaged has that copy put back from the row first, so it is always sent whole; a
HEAD request does only that (the Client asks for it when its own read fails).
"""

from __future__ import annotations

import logging
import mimetypes
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.http import HttpResponse, StreamingHttpResponse

from pipelines.models import ArtifactVersion
from pipelines.sdk.artifact_access import store_errors
from pipelines.sdk.artifact_saving import restore_inline_files
from pipelines.sdk.stores import ArtifactIntegrityError, StoreError, join_uri
from pipelines.storage import store_for_uri

logger = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
# Versions up to this size are checksummed before they are sent (see the docstring).
VERIFY_BYTES = 32 * 1024 * 1024
# Headers the Client reads; neither holds anything secret (a uri built from ids, a digest).
CHECKSUM_HEADER = "X-Checksum-Sha256"
URI_HEADER = "X-Artifact-Uri"
LAYOUT_HEADER = "X-Artifact-Layout"  # "file" or "folder" (sent as a zip)
SIZE_HEADER = "X-Artifact-Size"  # the files' total size (a zip's own length differs)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x93NUMPY", "application/octet-stream"),
    (b"PAR1", "application/vnd.apache.parquet"),
)


class StoredBytesError(Exception):
    """The version's bytes are missing, incomplete or damaged (the store answered)."""

    code = "artifact_bytes_damaged"


class StoreUnreadable(Exception):
    """The store itself could not be read (credentials, network, permissions)."""

    code = "artifact_store_unreachable"


@dataclass(frozen=True)
class StoredVersion:
    """What is stored for a version: one file, or a folder's files (relative path, size)."""

    uri: str
    is_folder: bool
    files: list[tuple[str, int]]

    @property
    def total_size(self) -> int:
        return sum(size for _, size in self.files)


def stored_version(version: ArtifactVersion, *, verify: bool = True) -> StoredVersion:
    """List (and, when small, verify) what is stored for `version`, or raise
    StoredBytesError / StoreUnreadable naming its uri."""
    uri = version.uri
    try:
        # A store this server cannot set up (StoreError) is the server's problem, a 502
        # below; a malformed recorded uri is the version's, a 409.
        try:
            store = store_for_uri(uri)
        except ValueError as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoredBytesError(f"Artifact version {version.id} records an unusable uri: {exc}") from None
        if version.inline_files:
            # A small version's store copy is written without an fsync: a power cut may
            # have taken or torn it. Its row holds it whole (checked against the
            # checksum; a damaged row raises ArtifactIntegrityError, a 409 below).
            restore_inline_files(store=store, uri=uri, files=version.inline_files, checksum=version.checksum)
        # One listing: a file uri gives one entry with the empty path, a missing one none.
        files = list(store.walk(uri))
        if not files:
            raise StoredBytesError(
                f"The stored files of artifact version {version.id} are missing: nothing is stored at {uri}."
            )
        found = StoredVersion(uri=uri, is_folder=files != [("", files[0][1])], files=files)
        if version.size and found.total_size != version.size:
            raise StoredBytesError(
                f"The stored files of artifact version {version.id} at {uri} hold {found.total_size} bytes, "
                f"not the {version.size} recorded when they were saved: they were changed or damaged."
            )
        if verify and version.checksum and found.total_size <= VERIFY_BYTES:
            store.verify(uri, version.checksum)
    except StoredBytesError:
        raise
    except ArtifactIntegrityError as exc:  # ArtifactFilesMissing included
        raise StoredBytesError(f"Artifact version {version.id}: {exc}") from None
    except FileNotFoundError:
        raise StoredBytesError(f"The stored files of artifact version {version.id} are missing at {uri}.") from None
    except store_errors() as exc:
        # The cause goes to the server's log only: a store's error may name its endpoint,
        # bucket policy or account, which a reader of the artifact has no need to see.
        logger.warning("Reading artifact version %s at %s failed", version.id, uri, exc_info=True)
        raise StoreUnreadable(
            f"The artifact store holding artifact version {version.id} ({uri}) could not be read "
            f"({type(exc).__name__}); the server's log has the cause."
        ) from None
    return found


def safe_filename(name: str) -> str:
    """Letters, digits, '.', '_' and '-' only, no dot runs, no leading or trailing dot."""
    cleaned = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "_", name))
    return cleaned.strip("._")[:150] or "artifact"


def download_response(version: ArtifactVersion) -> HttpResponse:
    """The version's bytes as an attachment: its file as is, or its folder as a zip.

    Raises StoredBytesError or StoreUnreadable before anything is sent.
    """
    stored = stored_version(version)
    store = store_for_uri(stored.uri)
    base = safe_filename(f"{version.artifact.name}-{version.version}")
    if stored.is_folder:
        response: HttpResponse = StreamingHttpResponse(
            zip_stream(stored, created=version.created_at.timetuple()[:6]), content_type="application/zip"
        )
        filename = f"{base}.zip"
    else:
        try:
            handle, head = _open_with_head(store, stored.uri)
        except FileNotFoundError:
            raise StoredBytesError(
                f"The stored file of artifact version {version.id} at {stored.uri} is gone."
            ) from None
        except store_errors() as exc:
            logger.warning("Reading artifact version %s at %s failed", version.id, stored.uri, exc_info=True)
            raise StoreUnreadable(
                f"The artifact store holding artifact version {version.id} ({stored.uri}) could not be read "
                f"({type(exc).__name__}); the server's log has the cause."
            ) from None
        name = stored.uri.rstrip("/").rsplit("/", 1)[-1]
        suffix = safe_filename("." + name.rsplit(".", 1)[1]) if "." in name else ""
        filename = f"{base}.{suffix}" if suffix else base
        response = StreamingHttpResponse(_file_stream(handle, head), content_type=content_type_of(name, head))
        response["Content-Length"] = str(stored.files[0][1])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response[CHECKSUM_HEADER] = version.checksum
    response[URI_HEADER] = quote(version.uri, safe=":/")
    response[LAYOUT_HEADER] = "folder" if stored.is_folder else "file"
    response[SIZE_HEADER] = str(stored.total_size)
    # Never rendered as a page of this site, whatever the bytes claim to be.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response


def _open_with_head(store: Any, uri: str) -> tuple[Any, bytes]:
    """The open file and its first bytes (which choose the Content-Type)."""
    handle = store.open(uri, "rb")
    try:
        return handle, handle.read(16)
    except BaseException:
        handle.close()
        raise


def content_type_of(name: str, head: bytes) -> str:
    """By the file's first bytes when they are recognised, else by its extension."""
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed and not encoding:
        return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed
    return "application/octet-stream"


def _file_stream(handle: Any, head: bytes) -> Iterator[bytes]:
    with handle:
        if head:
            yield head
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


class _Chunks:
    """A write-only file whose bytes are collected until the next drain()."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def zip_stream(stored: StoredVersion, *, created: tuple[int, ...] = (1980, 1, 1, 0, 0, 0)) -> Iterator[bytes]:
    """A zip of the folder's files, yielded while it is built: nothing is held whole.

    ZipFile sees a file it cannot seek, so it writes each entry's sizes after its
    data (data descriptors), which every unzip tool reads. Every entry gets the
    version's creation time: an object store keeps no file times worth showing.
    """
    store = store_for_uri(stored.uri)
    sink = _Chunks()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for relative, size in stored.files:
            info = zipfile.ZipInfo(relative, date_time=max(created, (1980, 1, 1, 0, 0, 0)))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with (
                store.open(join_uri(stored.uri, relative), "rb") as source,
                archive.open(info, mode="w", force_zip64=size >= zipfile.ZIP64_LIMIT) as target,
            ):
                while chunk := source.read(CHUNK_BYTES):
                    target.write(chunk)
                    if data := sink.drain():
                        yield data
            if data := sink.drain():
                yield data
    yield sink.drain()
