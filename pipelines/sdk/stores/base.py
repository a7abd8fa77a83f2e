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
import contextvars
import hashlib
import io
import os
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

CHUNK_SIZE = 1024 * 1024
READ_MODES = frozenset({"rb", "r", "rt"})
WRITE_MODES = frozenset({"wb", "w", "wt"})

# The id-built part of every version uri; what comes before it is the store's root.
# `registered/<name>` holds files registered where they lie (`register_artifact`).
VERSION_PATH = re.compile(r"/(?:runs/\d+/steps/\d+/attempt-\d+/\d+|saved/\d+|registered/[A-Za-z0-9_.\-]+)(?=/|$)")


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

# Each file is hashed with BLAKE3: SHA-256 runs at ~1.6 GB/s here even with SHA-NI
# (less on a busy machine), while np.load reads a cached file at 4-10 GB/s, so it set
# the speed of every save and load of a large artifact; BLAKE3 (a SIMD,
# cryptographic hash) is 3-4x faster on one core. Its digests are written "blake3:<hex>", so a manifest of them
# never equals one of the bare SHA-256 digests that versions saved before it were
# recorded with (those still verify: see `ArtifactStore.verify`).
FILE_DIGEST_PREFIX = "blake3:"
# What identifies one stored file (see `note_verified`); by convention the size comes first.
Identity = tuple[Any, ...]
# A hash runs beside the read or write of the same chunk on a helper thread (both
# release the GIL) once a chunk is this large; below it the thread costs more than it saves.
PARALLEL_HASH_BYTES = 8 * 1024 * 1024
_hash_threads: dict[int, ThreadPoolExecutor] = {}


def _hash_thread() -> ThreadPoolExecutor:
    # One per process: a pool inherited through fork (Celery's prefork pool) names a
    # thread that does not exist in the child, and work handed to it would never run.
    pid = os.getpid()
    pool = _hash_threads.get(pid)
    if pool is None:
        pool = _hash_threads.setdefault(pid, ThreadPoolExecutor(max_workers=1, thread_name_prefix="artifact-hash"))
    return pool


class FileHash:
    """The running digest of one file's bytes."""

    def __init__(self) -> None:
        from blake3 import blake3

        self._hash = blake3()

    def update(self, data: Any) -> None:
        self._hash.update(data)

    def update_beside(self, data: memoryview, io_call: Any) -> Any:
        """Hash `data` while `io_call()` runs (it reads into or writes out the same bytes)."""
        if len(data) < PARALLEL_HASH_BYTES:
            result = io_call()
            self._hash.update(data)
            return result
        pending = _hash_thread().submit(self._hash.update, data)
        try:
            return io_call()
        finally:
            pending.result()

    def hexdigest(self) -> str:
        return FILE_DIGEST_PREFIX + self._hash.hexdigest()


def manifest_digest(entries: Iterable[tuple[str, int, str]]) -> str:
    """The version checksum: SHA-256 over the sorted (path, size, file digest) list.

    One line per file, `<relative POSIX path>\\0<size>\\0<file digest>\\n`, in path
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
    """What writers streamed below one version uri: relative path -> (size, file digest),
    and the identity of each file a writer knows it of (see `note_verified`)."""

    key: str
    files: dict[str, tuple[int, str]] = field(default_factory=dict)
    identities: dict[str, Identity] = field(default_factory=dict)


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


def note_written(key: str, size: int, digest: str, identity: Identity | None = None) -> None:
    with _records_lock:
        if not _records:
            return
        probe = key
        while True:
            record = _records.get(probe)
            if record is not None:
                relative = key[len(probe) :].lstrip("/")
                record.files[relative] = (size, digest)
                if identity is not None:
                    record.identities[relative] = identity
                else:
                    record.identities.pop(relative, None)
                return
            parent = probe.rsplit("/", 1)[0]
            if parent == probe or not parent:
                return
            probe = parent


# Files verified once per identity ------------------------------------------------------
#
# A file whose digest this process has established (it wrote the file, or read it
# whole and the version's checksum matched) is not hashed again while it keeps the
# same identity: on a local disk (size, device, inode, mtime, ctime) of the open file,
# on an object store (size, ETag, Last-Modified, version) of the object the GET
# returned. Any write through the filesystem changes ctime (which no user can set)
# and any new upload Last-Modified, so only damage below the filesystem during this
# process's life would go unseen (on a filesystem with nanosecond timestamps).
_VERIFIED_LIMIT = 10_000
_verified: dict[tuple[str, Identity], str] = {}
_verified_lock = threading.Lock()


def _new_verified_lock() -> None:
    # A fork taken while another thread held the lock would leave it held in the child.
    global _verified_lock
    _verified_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_verified_lock)


def verified_digest(key: str, identity: Identity | None) -> str | None:
    if identity is None:
        return None
    with _verified_lock:
        return _verified.get((key, identity))


def note_verified(key: str, identity: Identity | None, digest: str) -> None:
    if identity is None:
        return
    with _verified_lock:
        if len(_verified) >= _VERIFIED_LIMIT:
            _verified.pop(next(iter(_verified)))  # the oldest entry
        _verified[(key, identity)] = digest


def forget_verified() -> None:
    """Forget every verified file: the next load of each hashes it again."""
    with _verified_lock:
        _verified.clear()


# Identities carried with a version --------------------------------------------------
#
# What one process established is worth the same to the next: the process that
# writes a version (a worker saving a step's output, the server checking what a
# Client saved) records with it, for its larger files, the identity each had and the
# digest of its bytes (`ArtifactVersion.file_identities`), and a process loading the
# version takes that digest for a file whose identity on opening is still the same,
# instead of hashing it again. A record is a claim, never proof of anything by
# itself: it only ever stands for a file that still has that very identity, and when
# the version's checksum then does not match, the claimed files are hashed after all,
# so a wrong or forged record costs a read, never a wrong verdict on bytes that
# changed through the filesystem.

# Smaller files cost about as much to open as to hash: they are not recorded.
CARRIED_MIN_BYTES = 64 * 1024
CARRIED_LIMIT = 100  # files per version; the largest are recorded
_CARRIED_DIGEST = re.compile(r"blake3:[0-9a-f]{64}")
Claims = dict[str, tuple[Identity, str]]


def carried_identities(found: Claims) -> dict[str, list[Any]]:
    """What to record with a version, as JSON: {relative path: [file digest, identity]}
    for its largest files (`found` holds only identities the store carries)."""
    eligible = sorted(
        ((identity[0], relative) for relative, (identity, _) in found.items() if identity[0] >= CARRIED_MIN_BYTES),
        reverse=True,
    )[:CARRIED_LIMIT]
    return {relative: [found[relative][1], list(found[relative][0])] for _, relative in sorted(eligible)}


def _identity_part(value: object) -> bool:
    # `type(...) is int`: a bool (an int subclass) is no part of any identity.
    return type(value) is int or (type(value) is str and len(value) <= 200)


def claims_from(file_identities: object) -> Claims:
    """The recorded identities of a version (see `carried_identities`) as a `ReadCheck`
    takes them; anything of another shape (garbage from a server, a row edited by
    hand) is dropped, entry by entry, so the files it names are hashed as usual."""
    if not isinstance(file_identities, dict) or len(file_identities) > CARRIED_LIMIT:
        return {}
    claims: Claims = {}
    for relative, entry in file_identities.items():
        if not isinstance(relative, str) or "\0" in relative or not isinstance(entry, list) or len(entry) != 2:
            continue
        digest, identity = entry
        if not isinstance(digest, str) or not _CARRIED_DIGEST.fullmatch(digest):
            continue
        if not isinstance(identity, list) or not 2 <= len(identity) <= 8:
            continue
        if not all(_identity_part(part) for part in identity) or type(identity[0]) is not int or identity[0] < 0:
            continue
        if relative and any(part in ("", ".", "..") for part in relative.split("/")):
            continue
        claims[relative] = (tuple(identity), digest)
    return claims


# File objects ------------------------------------------------------------------------


class StreamingWriter(io.BufferedIOBase):
    """A write-only binary file that hashes as it streams and commits on close.

    Leaving a `with` block by an exception (or dropping the writer unclosed) aborts:
    nothing appears at the target, and an earlier file there is left as it was.
    """

    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key
        self._hash = FileHash()
        self._size = 0
        # Set by a sink that knows the committed file's identity (see `note_verified`).
        self._identity: Identity | None = None

    # What a concrete store provides.
    @abc.abstractmethod
    def _sink_write(self, data: memoryview) -> None:
        """Pass on one chunk of the file (already counted and hashed)."""

    @abc.abstractmethod
    def _sink_commit(self) -> None:
        """Make the whole file appear at its key, durably, or raise."""

    @abc.abstractmethod
    def _sink_abort(self) -> None:
        """Drop what was written: nothing may appear at the key."""

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
        self._hash.update_beside(view, lambda: self._sink_write(view))
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
        note_written(self._key, self._size, self._hash.hexdigest(), self._identity)
        note_verified(self._key, self._identity, self._hash.hexdigest())

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

    def write_files(self, uri: str, files: dict[str, bytes], *, durable: bool = True) -> None:
        """Write `files` ({relative path: bytes}) below the version `uri`, each atomically.

        `durable=False` lets a store skip waiting for the disk (a local store's fsyncs):
        for copies of what is kept durably elsewhere (a small version's row).
        """
        for relative, data in files.items():
            with self.open(join_uri(uri, relative), "wb") as handle:
                handle.write(data)

    @abc.abstractmethod
    def check_reachable(self) -> None:
        """Raise StoreUnreachable, naming the URL and the cause, unless the store can be used."""

    def recording(self, uri: str) -> contextlib.AbstractContextManager[WriteRecord]:
        """Note what is written below the version `uri` while the block runs."""
        return recording(self.record_key(uri))

    def file_digest(self, uri: str, *, claimed: tuple[Identity, str] | None = None) -> tuple[str, int]:
        """The file digest (see `FileHash`) and size of the file at `uri`, read in full
        unless this process knows the digest of the very file opened (`note_verified`),
        or it is `claimed` for the identity the opened file has (not noted as verified:
        a claim only counts once the version's checksum matched)."""
        return self.file_digest_and_identity(uri, claimed=claimed)[:2]

    def file_digest_and_identity(
        self, uri: str, *, claimed: tuple[Identity, str] | None = None
    ) -> tuple[str, int, Identity | None]:
        """`file_digest`, and the identity of the file that was opened (None if unknown)."""
        key = self.record_key(uri)
        with self.open(uri, "rb") as handle:
            identity = self.identity_of(handle)
            known = verified_digest(key, identity)
            if known is None and claimed is not None and identity is not None and claimed[0] == identity:
                known = claimed[1]
            if known is not None and identity is not None:
                return known, identity[0], identity
            digest = FileHash()
            size = 0
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
        hexdigest = digest.hexdigest()
        if identity is not None and identity[0] == size:
            note_verified(key, identity, hexdigest)
        else:
            identity = None
        return hexdigest, size, identity

    def identity_of(self, handle: IO[bytes]) -> Identity | None:
        """What identifies the file `handle` (from `open(..., "rb")`) reads, if the store knows."""
        return None

    def carries_identity(self, identity: Identity) -> bool:
        """Whether `identity` still means the same file to another process, later, so
        it may be recorded with a version (see `carried_identities`). No by default."""
        return False

    def file_sha256(self, uri: str) -> tuple[str, int]:
        """The plain SHA-256 of the file at `uri`: how versions saved before BLAKE3 were recorded."""
        digest = hashlib.sha256()
        size = 0
        with self.open(uri, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def checksum(
        self, uri: str, *, record: WriteRecord | None = None, identities: dict[str, list[Any]] | None = None
    ) -> tuple[str, int]:
        """The version checksum (see `manifest_digest`) and total size at `uri`.

        Files the `record` saw streaming, with the size they still have, are not read
        again; any other file (written around the file API) is read back and hashed.
        `identities`, if given, is filled with what to record with the version for
        later loads (see `carried_identities`).
        """
        files = list(self.walk(uri))
        if not files and not self.exists(uri):
            raise FileNotFoundError(f"Nothing is stored at {uri}.")
        entries = []
        found: Claims = {}
        for relative, size in files:
            known = record.files.get(relative) if record is not None else None
            if known is not None and known[0] == size:
                digest = known[1]
                identity = record.identities.get(relative) if record is not None else None
            else:
                digest, read, identity = self.file_digest_and_identity(join_uri(uri, relative))
                if read != size:
                    raise RuntimeError(f"{join_uri(uri, relative)!r} changed size while it was being hashed.")
            if identity is not None and identity[0] == size and self.carries_identity(identity):
                found[relative] = (identity, digest)
            entries.append((relative, size, digest))
        if identities is not None:
            identities.update(carried_identities(found))
        return manifest_digest(entries), sum(size for _, size, _ in entries)

    def verify(
        self,
        uri: str,
        expected: str,
        *,
        streamed: dict[str, tuple[int, str]] | None = None,
        claims: Claims | None = None,
    ) -> int:
        """Check every file at `uri` against the recorded checksum, reading it back.

        Files in `streamed` (relative path -> (bytes hashed, digest)) that were hashed
        whole as a reader streamed them are not read again, nor are files `claims`
        gives a digest for with the identity they have (see `carried_identities`).
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
        entries = []
        for relative, size in files:
            known = (streamed or {}).get(relative)
            if known is not None and known[0] == size:
                digest = known[1]
            else:
                digest, read = self.file_digest(join_uri(uri, relative), claimed=(claims or {}).get(relative))
                if read != size:
                    raise ArtifactIntegrityError(f"{join_uri(uri, relative)} changed size while it was being read.")
            entries.append((relative, size, digest))
        total = sum(size for _, size, _ in entries)
        found = manifest_digest(entries)
        if found == expected:
            return total
        # Saved before BLAKE3 (or damaged): the SHA-256 digests it may have been recorded with.
        older, _ = self._digests(uri, files)
        if expected in older:
            return total
        raise ArtifactIntegrityError(
            f"The files at {uri} do not match the checksum recorded when they were saved "
            f"(expected {expected[:12]}…, found {found[:12]}…). They were changed or damaged "
            "after the step wrote them; re-run the producing step to recreate them."
        )

    def _digests(self, uri: str, files: list[tuple[str, int]]) -> tuple[tuple[str, ...], int]:
        """The SHA-256 digests a version at `uri` saved before BLAKE3 may have been
        recorded with (one read pass)."""
        entries = []
        for relative, size in files:
            sha, read = self.file_sha256(join_uri(uri, relative))
            if read != size:
                raise ArtifactIntegrityError(f"{join_uri(uri, relative)} changed size while it was being read.")
            entries.append((relative, size, sha))
        return (manifest_digest(entries),), sum(size for _, size, _ in entries)

    def verifying(self, uri: str, expected: str, *, claims: Claims | None = None) -> ReadCheck:
        """Check the version at `uri` as it is read: see `ReadCheck`; `claims` are the
        identities recorded with the version (`claims_from`)."""
        return ReadCheck(self, uri, expected, claims)


# Checking while reading --------------------------------------------------------------

_read_check: contextvars.ContextVar[ReadCheck | None] = contextvars.ContextVar("artifact_read_check", default=None)


class ReadCheck:
    """Hash the files of one version as a materializer streams them, then verify.

    Inside `with store.verifying(uri, checksum) as check:` every file below `uri` that
    this context opens for reading hashes the bytes it hands out, in order; `finish()`
    then reads only what was not streamed whole (a file never opened, read in part or
    out of order, or opened from another thread) and compares the version's checksum,
    raising before the loaded value is returned. A file streamed whole is checked on
    the very bytes the materializer used, which is what a check before loading (one
    more full read) could not promise.
    """

    def __init__(self, store: ArtifactStore, uri: str, expected: str, claims: Claims | None = None) -> None:
        self.store = store
        self.uri = uri
        self.expected = expected
        self.key = store.record_key(uri)
        self.claims: Claims = dict(claims or {})
        self.streamed: dict[str, tuple[int, str]] = {}
        self._identities: dict[str, Identity | None] = {}
        self._lock = threading.Lock()
        self._token: contextvars.Token[ReadCheck | None] | None = None

    def __enter__(self) -> ReadCheck:
        self._token = _read_check.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _read_check.reset(self._token)
            self._token = None

    def relative(self, key: str) -> str | None:
        if key == self.key:
            return ""
        if key.startswith(self.key + "/"):
            return key[len(self.key) + 1 :]
        return None

    def note(self, relative: str, hashed: int, digest: str, identity: Identity | None = None) -> None:
        with self._lock:
            if hashed >= self.streamed.get(relative, (-1, ""))[0]:
                self.streamed[relative] = (hashed, digest)
                self._identities[relative] = identity

    def claimed(self, relative: str, identity: Identity | None) -> str | None:
        """The digest the version's record claims for the file `relative` if it has
        `identity` (the file just opened), else None."""
        claim = self.claims.get(relative)
        if claim is None or identity is None or claim[0] != identity:
            return None
        return claim[1]

    def finish(self) -> int:
        """Verify the version (see `ArtifactStore.verify`); returns its total size."""
        try:
            size = self.store.verify(self.uri, self.expected, streamed=self.streamed, claims=self.claims)
        except ArtifactFilesMissing:
            raise
        except ArtifactIntegrityError:
            if not self.claims:
                raise
            # A claim was wrong, or the files are damaged: their bytes decide.
            with self._lock:
                self.streamed = {
                    relative: entry
                    for relative, entry in self.streamed.items()
                    if self.claimed(relative, self._identities.get(relative)) is None
                }
                self.claims = {}
            size = self.store.verify(self.uri, self.expected, streamed=self.streamed)
        for relative, (hashed, digest) in self.streamed.items():
            identity = self._identities.get(relative)
            if identity is not None and hashed == identity[0]:
                note_verified(join_uri(self.key, relative), identity, digest)
        return size


def watch_read(handle: IO[bytes], key: str, identity: Identity | None = None) -> IO[bytes]:
    """`handle` (a file just opened for reading, at offset 0) hashing what it hands
    out, when the file belongs to the version an active `ReadCheck` verifies.

    `identity` is that of the opened file (see `note_verified`): a file this process
    has verified with that identity is handed out as is, its digest known.
    """
    check = _read_check.get()
    relative = check.relative(key) if check is not None else None
    if check is None or relative is None:
        return handle
    known = verified_digest(key, identity) or check.claimed(relative, identity)
    if known is not None and identity is not None:
        check.note(relative, identity[0], known, identity)
        return handle
    return _HashingReader(handle, check, relative, identity)  # type: ignore[return-value]


class _HashingReader(io.BufferedIOBase):
    """A read-only binary file that hashes the bytes it returns while they are read in order.

    Not an io.BufferedReader, on purpose: numpy and others read such "real" files
    through their descriptor, around any hashing.
    """

    def __init__(self, handle: IO[bytes], check: ReadCheck, relative: str, identity: Identity | None) -> None:
        super().__init__()
        self._identity = identity
        self._handle = handle
        self._check = check
        self._relative = relative
        self._hash = FileHash()
        self._position = 0
        self._hashed = 0  # bytes [0, _hashed) went into the hash, in order

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._handle.seekable()

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = self._handle.seek(offset, whence)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        data = self._handle.read(size)
        self._advance(memoryview(data))
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readline(self, size: int | None = -1) -> bytes:
        # IOBase's own would read one byte per call.
        data = self._handle.readline(size if size is not None else -1)
        self._advance(memoryview(data))
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._position != self._hashed or len(view) < 2 * PARALLEL_HASH_BYTES:
            count = self._handle.readinto(view) or 0
            self._advance(view[:count])
            return count
        # A large read in order (np.load of a big array): chunk k + 1 is read while
        # chunk k is hashed on the helper thread.
        done = 0
        unhashed: memoryview | None = None
        while done < len(view):
            part = view[done : done + PARALLEL_HASH_BYTES]
            if unhashed is None:
                count = self._handle.readinto(part) or 0
            else:
                count = self._hash.update_beside(unhashed, lambda part=part: self._handle.readinto(part) or 0)
                self._hashed += len(unhashed)
            unhashed = view[done : done + count]
            done += count
            if count < len(part):
                break  # the end of the file (or a short read): the caller asks again
        if unhashed is not None:
            self._hash.update(unhashed)
            self._hashed += len(unhashed)
        self._position += done
        return done

    def readinto1(self, buffer: Any) -> int:
        return self.readinto(buffer)

    def _advance(self, view: memoryview) -> None:
        if self._position == self._hashed and len(view):
            self._hash.update(view)
            self._hashed += len(view)
        self._position += len(view)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._handle.close()
        finally:
            super().close()
            self._check.note(self._relative, self._hashed, self._hash.hexdigest(), self._identity)
