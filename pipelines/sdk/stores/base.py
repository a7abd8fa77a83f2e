"""The interface every artifact store implements, and what they share.

A store holds artifact versions below one root: a local folder or an object-store
bucket prefix. Every version gets its own folder (uri) built from database ids only,
so no user text (step names, output names) ever becomes part of a path or key.

Files are written one at a time through `open(uri, "wb")`: a writer hashes while it
streams and makes the file appear only when it is closed without error (local: temp
file, fsync, rename; object stores: a multipart upload completed on close, aborted
on an exception). What a writer wrote is noted in the active `WriteRecord` of its
version (see `recording`), so the version's checksum needs no second read.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import io
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

CHUNK_SIZE = 1024 * 1024
READ_MODES = frozenset({"rb", "r", "rt"})
WRITE_MODES = frozenset({"wb", "w", "wt"})

# The id-built part of every version uri; what comes before it is the store's root.
VERSION_PATH = re.compile(r"/(?:runs/\d+/steps/\d+/attempt-\d+/\d+|saved/\d+)(?=/|$)")


class StoreError(Exception):
    """A store cannot be used as configured; the message names its URL and the cause."""


class StoreConfigError(StoreError, ValueError):
    """The store URL (or the environment it needs) is malformed or unsupported."""


class StoreUnreachable(StoreError):
    """The store is configured but cannot be reached or written to."""


class ArtifactIntegrityError(Exception):
    """The stored files of an artifact version no longer match their checksum."""


class ArtifactFilesMissing(ArtifactIntegrityError, FileNotFoundError):
    """The stored files of an artifact version are gone."""


def check_id(name: str, value: object) -> None:
    # `type(...) is int` rather than isinstance: bool is an int subclass, and neither
    # it nor enums or numpy integers belong in a path.
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}.")


def check_text(uri: object) -> str:
    if not isinstance(uri, str):
        raise ValueError(f"Artifact uri must be a str, got {type(uri).__name__}.")
    if "\0" in uri:
        raise ValueError(f"Artifact uri {uri!r} contains a NUL byte.")
    return uri


def check_relative(uri: str, relative: str) -> None:
    """Refuse `..`, `.` and empty segments in the part of a uri below a store's root."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(
            f"Artifact uri {uri!r} has an empty, '.' or '..' segment below the store root; "
            "uris must point plainly below the root."
        )


def join_uri(uri: str, relative: str) -> str:
    """`relative` (a POSIX path) below `uri`; the same for a local path and an s3:// uri."""
    return f"{uri.rstrip('/')}/{relative}" if relative else uri


# Checksums -------------------------------------------------------------------------


def manifest_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """The version checksum: SHA-256 over the sorted (path, size, file SHA-256) list.

    One line per file, `<relative POSIX path>\\0<size>\\0<sha256 hex>\\n`, in path
    order; a version that is one file has the empty path. It is computed from what
    the writers recorded while streaming, so no file is read twice, and it is the
    same on every store and machine. Empty folders do not count.
    """
    digest = hashlib.sha256()
    for path, size, sha in sorted(entries):
        digest.update(f"{path}\0{size}\0{sha}\n".encode())
    return digest.hexdigest()


@dataclass
class WriteRecord:
    """What writers streamed below one version uri: relative path -> (size, sha256)."""

    key: str
    files: dict[str, tuple[int, str]] = field(default_factory=dict)


_records: dict[str, WriteRecord] = {}
_records_lock = threading.Lock()


@contextlib.contextmanager
def recording(key: str) -> Iterator[WriteRecord]:
    """Record every file written below `key` (a store's normalized version uri).

    Process-wide rather than a contextvar: a step may write from threads it starts.
    """
    record = WriteRecord(key=key.rstrip("/"))
    with _records_lock:
        _records[record.key] = record
    try:
        yield record
    finally:
        with _records_lock:
            _records.pop(record.key, None)


def note_written(key: str, size: int, sha256: str) -> None:
    with _records_lock:
        if not _records:
            return
        probe = key
        while True:
            record = _records.get(probe)
            if record is not None:
                relative = key[len(probe) :].lstrip("/")
                record.files[relative] = (size, sha256)
                return
            parent = probe.rsplit("/", 1)[0]
            if parent == probe or not parent:
                return
            probe = parent


# File objects ------------------------------------------------------------------------


class StreamingWriter(io.BufferedIOBase):
    """A write-only binary file that hashes as it streams and commits on close.

    Leaving a `with` block by an exception (or dropping the writer unclosed) aborts:
    nothing appears at the target, and an earlier file there is left as it was.
    """

    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key
        self._hash = hashlib.sha256()
        self._size = 0

    # What a concrete store provides.
    def _sink_write(self, data: memoryview) -> None:
        raise NotImplementedError

    def _sink_commit(self) -> None:
        raise NotImplementedError

    def _sink_abort(self) -> None:
        raise NotImplementedError

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._size

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self._sink_write(view)
        self._size += len(view)
        return len(view)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._sink_commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self._sink_abort()
            raise
        finally:
            super().close()
        note_written(self._key, self._size, self._hash.hexdigest())

    def abort(self) -> None:
        if self.closed:
            return
        try:
            self._sink_abort()
        finally:
            super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # io.IOBase.__del__ would close(), that is commit, a half-written file.
        with contextlib.suppress(Exception):
            self.abort()


class _TextWriter(io.TextIOWrapper):
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            # The buffer's abort closes it; TextIOWrapper.close then flushes nothing.
            self.buffer.abort()  # type: ignore[attr-defined]
        self.close()

    def __del__(self) -> None:
        # Dropped unclosed, like the binary writer: nothing is written.
        with contextlib.suppress(Exception):
            self.buffer.abort()  # type: ignore[attr-defined]


def wrap_mode(handle: IO[bytes], mode: str) -> IO[Any]:
    """`handle` as the text file `mode` asks for (UTF-8), or as is for binary."""
    if "b" in mode:
        return handle
    if mode in WRITE_MODES:
        return _TextWriter(handle, encoding="utf-8", newline="")  # type: ignore[arg-type]
    return io.TextIOWrapper(handle, encoding="utf-8")  # type: ignore[arg-type]


def check_mode(mode: str) -> None:
    if mode not in READ_MODES | WRITE_MODES:
        raise ValueError(f"Artifact files open with 'rb', 'r', 'wb' or 'w', not {mode!r}.")


# The interface ---------------------------------------------------------------------


class ArtifactStore(abc.ABC):
    """Artifact versions below one root (a folder or a bucket prefix), by uri."""

    #: The URL the store was configured with.
    url: str

    @property
    @abc.abstractmethod
    def root_uri(self) -> str:
        """The uri every version uri of this store starts with."""

    def uri_for(self, *, run_id: int, step_run_id: int, attempt: int, output_index: int) -> str:
        """The folder one output of one step attempt is written to.

        The attempt is part of the path so a retry never overwrites (or reads) what a
        crashed earlier attempt left behind.
        """
        for name, value in (
            ("run_id", run_id),
            ("step_run_id", step_run_id),
            ("attempt", attempt),
            ("output_index", output_index),
        ):
            check_id(name, value)
        return join_uri(self.root_uri, f"runs/{run_id}/steps/{step_run_id}/attempt-{attempt}/{output_index}")

    def uri_for_saved(self, *, version_id: int) -> str:
        """The folder of an artifact version saved with `save_artifact` (not a step output)."""
        check_id("version_id", version_id)
        return join_uri(self.root_uri, f"saved/{version_id}")

    @abc.abstractmethod
    def contains(self, uri: str) -> bool:
        """Whether `uri` is (textually) strictly below this store's root."""

    @abc.abstractmethod
    def record_key(self, uri: str) -> str:
        """The normalized form of `uri` that writers note their files under."""

    @abc.abstractmethod
    def open(self, uri: str, mode: str = "rb") -> IO[Any]:
        """One file below a version uri: 'rb'/'r' stream it, 'wb'/'w' write it atomically."""

    @abc.abstractmethod
    def exists(self, uri: str) -> bool: ...

    @abc.abstractmethod
    def isdir(self, uri: str) -> bool: ...

    @abc.abstractmethod
    def listdir(self, uri: str) -> list[str]:
        """Names (files and folders) directly below `uri`, sorted."""

    @abc.abstractmethod
    def walk(self, uri: str) -> Iterator[tuple[str, int]]:
        """Every file below `uri` as (relative POSIX path, size), in path order; a
        file uri gives one entry with the empty path; a missing uri gives nothing."""

    @abc.abstractmethod
    def makedirs(self, uri: str) -> None:
        """Create the folder `uri` (a no-op where folders do not exist)."""

    @abc.abstractmethod
    def remove(self, uri: str) -> None:
        """Delete the file or the whole folder at `uri`; a missing uri is not an error."""

    @abc.abstractmethod
    def size(self, uri: str) -> int:
        """The size of the file at `uri`, or the total of the files below it."""

    @abc.abstractmethod
    def check_reachable(self) -> None:
        """Raise StoreUnreachable, naming the URL and the cause, unless the store can be used."""

    def recording(self, uri: str) -> contextlib.AbstractContextManager[WriteRecord]:
        """Note what is written below the version `uri` while the block runs."""
        return recording(self.record_key(uri))

    def file_sha256(self, uri: str) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        with self.open(uri, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def checksum(self, uri: str, *, record: WriteRecord | None = None) -> tuple[str, int]:
        """The version checksum (see `manifest_digest`) and total size at `uri`.

        Files the `record` saw streaming, with the size they still have, are not read
        again; any other file (written around the file API) is read back and hashed.
        """
        files = list(self.walk(uri))
        if not files and not self.exists(uri):
            raise FileNotFoundError(f"Nothing is stored at {uri}.")
        entries = []
        for relative, size in files:
            known = record.files.get(relative) if record is not None else None
            if known is not None and known[0] == size:
                sha = known[1]
            else:
                sha, read = self.file_sha256(join_uri(uri, relative))
                if read != size:
                    raise RuntimeError(f"{join_uri(uri, relative)!r} changed size while it was being hashed.")
            entries.append((relative, size, sha))
        return manifest_digest(entries), sum(size for _, size, _ in entries)

    def verify(self, uri: str, expected: str) -> int:
        """Read every file at `uri` back and check it against the recorded checksum.

        Returns the total size; raises ArtifactFilesMissing or ArtifactIntegrityError
        naming the uri. An empty `expected` (never recorded) checks existence only.
        """
        files = list(self.walk(uri))
        if not files and (expected or not self.exists(uri)):
            raise ArtifactFilesMissing(
                f"The files of the artifact version at {uri} are missing: nothing is stored there. "
                "They were deleted after the step wrote them; re-run the producing step to recreate them."
            )
        if not expected:
            return sum(size for _, size in files)
        actual, size = self._digests(uri, files)
        if expected not in actual:
            raise ArtifactIntegrityError(
                f"The files at {uri} do not match the checksum recorded when they were saved "
                f"(expected {expected[:12]}…, found {actual[0][:12]}…). They were changed or damaged "
                "after the step wrote them; re-run the producing step to recreate them."
            )
        return size

    def _digests(self, uri: str, files: list[tuple[str, int]]) -> tuple[tuple[str, ...], int]:
        """The digests a version at `uri` may have been recorded with (one read pass)."""
        entries = []
        for relative, size in files:
            sha, read = self.file_sha256(join_uri(uri, relative))
            if read != size:
                raise ArtifactIntegrityError(f"{join_uri(uri, relative)} changed size while it was being read.")
            entries.append((relative, size, sha))
        return (manifest_digest(entries),), sum(size for _, size, _ in entries)
