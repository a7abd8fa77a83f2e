"""Artifacts below a folder on a filesystem (the default: `var/artifacts/`).

A local uri is an absolute path, as it always was, so versions recorded before
stores took URLs keep working.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from pipelines.sdk.stores.base import (
    CHUNK_SIZE,
    WRITE_MODES,
    ArtifactIntegrityError,
    ArtifactStore,
    StoreUnreachable,
    StreamingWriter,
    check_mode,
    check_text,
    manifest_digest,
    watch_read,
    wrap_mode,
)

_TEXT_MODES = frozenset({"w", "wt"})
_BINARY_MODES = frozenset({"wb"})


class LocalArtifactStore(ArtifactStore):
    """Artifacts under one root folder (shared by every worker only if it is mounted everywhere)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.url = os.fspath(root)
        # realpath so a root reached through a symlink (/tmp on macOS, a mounted
        # volume) still compares equal to the resolved uris that `resolve` checks.
        self.root = Path(os.path.realpath(os.fspath(root)))

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalArtifactStore) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    @property
    def root_uri(self) -> str:
        return str(self.root)

    def resolve(self, uri: str | os.PathLike[str]) -> Path:
        """The real path of `uri`, refusing anything that is not strictly inside root.

        Uris come back from the database and the API, so they are checked every time
        they are used rather than trusted. The root itself is refused too: nothing
        should ever remove or overwrite the whole store.
        """
        raw = check_text(os.fspath(uri))
        if not os.path.isabs(raw):
            raise ValueError(
                f"Artifact uri {raw!r} is not an absolute path; local uris come from "
                "LocalArtifactStore.uri_for and are always absolute."
            )
        resolved = Path(os.path.realpath(raw))
        if resolved == self.root or not resolved.is_relative_to(self.root):
            raise ValueError(
                f"Artifact uri {raw!r} resolves to {str(resolved)!r}, which is not inside the "
                f"artifact store root {str(self.root)!r}. Uris must point below the root "
                "(no '..', no symlinks leading out)."
            )
        return resolved

    def contains(self, uri: str) -> bool:
        if not isinstance(uri, str) or not os.path.isabs(uri) or "\0" in uri:
            return False
        normal = os.path.normpath(uri)
        return normal != str(self.root) and normal.startswith(str(self.root).rstrip("/") + "/")

    def record_key(self, uri: str) -> str:
        return str(self.resolve(uri))

    def ensure_dir(self, uri: str | os.PathLike[str]) -> Path:
        path = self.resolve(uri)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def open(self, uri: str, mode: str = "rb") -> IO[Any]:
        check_mode(mode)
        path = self.resolve(uri)
        if mode in WRITE_MODES:
            path.parent.mkdir(parents=True, exist_ok=True)
            return wrap_mode(_LocalWriter(path), mode)
        handle = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        return wrap_mode(watch_read(handle, str(path), _identity(os.fstat(handle.fileno()))), mode)

    def identity_of(self, handle: IO[bytes]) -> tuple[int, ...] | None:
        raw = getattr(handle, "_handle", handle)  # below a checked read's hashing wrapper
        try:
            return _identity(os.fstat(raw.fileno()))
        except (AttributeError, OSError, ValueError):
            return None

    def carries_identity(self, identity: tuple[Any, ...]) -> bool:
        # On a filesystem that keeps whole seconds (FAT, some network mounts), a file
        # rewritten at the same size within the second of its write keeps its identity:
        # good enough for this process's own cache (see `note_verified`), not to record.
        # On the others a timestamp lands on a whole second once in a billion.
        return len(identity) == 5 and identity[4] % 1_000_000_000 != 0

    def exists(self, uri: str) -> bool:
        return os.path.lexists(self.resolve(uri))

    def isdir(self, uri: str) -> bool:
        try:
            return stat.S_ISDIR(os.lstat(self.resolve(uri)).st_mode)
        except FileNotFoundError:
            return False

    def listdir(self, uri: str) -> list[str]:
        return sorted(os.listdir(self.resolve(uri)))

    def walk(self, uri: str) -> Iterator[tuple[str, int]]:
        base = self.resolve(uri)
        try:
            info = base.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISREG(info.st_mode):
            yield "", info.st_size
            return
        if not stat.S_ISDIR(info.st_mode):
            raise ValueError(f"{str(base)!r} is neither a regular file nor a directory.")
        yield from sorted((relative, path.lstat().st_size) for relative, path in _walk_files(base))

    def makedirs(self, uri: str) -> None:
        self.resolve(uri).mkdir(parents=True, exist_ok=True)

    def remove(self, uri: str) -> None:
        path = self.resolve(uri)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            pass

    def size(self, uri: str) -> int:
        path = self.resolve(uri)
        if path.is_dir():
            return sum(size for _, size in self.walk(uri))
        return path.stat().st_size

    def write_files(self, uri: str, files: dict[str, bytes], *, durable: bool = True) -> None:
        if durable:
            super().write_files(uri, files)
            return
        # Each file appears whole or not at all (a rename), but nothing waits for the
        # disk: after a power cut a file may be missing or empty, and the row it was
        # copied from puts it back (`pipelines.sdk.artifact_saving.restore_inline_files`).
        for relative, data in files.items():
            target = self.resolve(f"{uri.rstrip('/')}/{relative}")
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
            with open(temp, "xb") as handle:
                handle.write(data)
            os.replace(temp, target)

    def rename(self, source: str, target: str) -> None:
        os.replace(self.resolve(source), self.resolve(target))

    def check_reachable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".reachable-{secrets.token_hex(6)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreUnreachable(
                f"The artifact store {self.url} cannot be used: {type(exc).__name__}: {exc}. "
                "Create the folder and let this process's user write to it, or point "
                "PIPELINES_ARTIFACT_STORE elsewhere."
            ) from exc

    def _digests(self, uri: str, files: list[tuple[str, int]]) -> tuple[tuple[str, ...], int]:
        """Both the manifest digest and, for versions recorded before it existed, the
        old tree digest (`tree_checksum`), in one read pass."""
        base = self.resolve(uri)
        legacy = hashlib.sha256()
        entries = []
        for relative, size in files:
            path = base / relative if relative else base
            file_hash = hashlib.sha256()

            def feed(chunk: bytes, file_hash: Any = file_hash) -> None:
                legacy.update(chunk)
                file_hash.update(chunk)

            legacy.update(relative.encode("utf-8") + b"\0" + size.to_bytes(8, "big"))
            read = _feed_chunks(feed, path)
            if read != size:
                raise ArtifactIntegrityError(f"{path} changed size while it was being read.")
            entries.append((relative, size, file_hash.hexdigest()))
        return (manifest_digest(entries), legacy.hexdigest()), sum(size for _, size, _ in entries)


# A large file's bytes go to the disk while the writer still writes (and hashes) the
# rest: after each piece of this size the kernel is asked to start writing it back
# (Linux's sync_file_range), so the commit's fsync waits for the last pieces only,
# not for the whole file after the last byte was copied (np.save + fsync does the
# copy, then all of the disk's work). It is a hint: durability is the fsync's.
WRITEBACK_BYTES = 4 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2  # start writing back dirty pages in the range; do not wait
_writeback_call: list[object] = []  # [the libc function or None], looked up once


def _start_writeback(fd: int, offset: int, nbytes: int) -> None:
    """Ask the kernel to start writing [offset, offset + nbytes) of `fd` to the disk
    now (no wait, nothing guaranteed); a no-op where that cannot be asked."""
    if not _writeback_call:
        _writeback_call.append(_sync_file_range())
    call = _writeback_call[0]
    if call is not None:
        call(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)  # type: ignore[operator]  # errors ignored: a hint


def _sync_file_range() -> object:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here: most processes never write a large file

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


class _LocalWriter(StreamingWriter):
    def __init__(self, target: Path) -> None:
        super().__init__(str(target))
        self._target = target
        # Same folder as the target so os.replace is a rename, never a cross-device copy.
        self._temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        # 0o666 rather than mkstemp's 0o600 so the file gets the umask-derived
        # permissions a plain open() would give it.
        fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        self._file = os.fdopen(fd, "wb")
        self._offset = 0  # bytes handed to the file so far
        self._writeback_from = 0  # where the writeback not yet asked for starts

    def _sink_write(self, data: memoryview) -> None:
        if len(data) < WRITEBACK_BYTES:
            self._file.write(data)
            self._offset += len(data)
            if self._offset - self._writeback_from >= WRITEBACK_BYTES:
                self._file.flush()
                self._start_writeback()
            return
        # Large: straight to the file (after what the buffer holds), piece by piece,
        # each piece's writeback started before the next is copied.
        self._file.flush()
        fd = self._file.fileno()
        for start in range(0, len(data), WRITEBACK_BYTES):
            piece = data[start : start + WRITEBACK_BYTES]
            written = 0
            while written < len(piece):
                written += os.write(fd, piece[written:])
            self._offset += written
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Start the writeback of what was written since the last start (all in the file)."""
        _start_writeback(self._file.fileno(), self._writeback_from, self._offset - self._writeback_from)
        self._writeback_from = self._offset

    def _sink_commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        os.replace(self._temp, self._target)
        _fsync_dir(self._target.parent)
        # Of the file still open, after the rename (which sets ctime): the inode this
        # writer hashed, whatever is at the path by now.
        self._identity = _identity(os.fstat(self._file.fileno()))
        self._file.close()

    def _sink_abort(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


def _identity(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_size, info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns)


def tree_checksum(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The checksum versions were recorded with before the manifest digest: SHA-256
    and total size of a directory tree or a single file.

    Each file contributes its relative POSIX path, a NUL, its size as 8 big-endian
    bytes and its content, in sorted path order. A single file is hashed with an
    empty relative path. Symlinks and special files are refused.
    """
    base = Path(path)
    base_stat = base.lstat()
    if stat.S_ISREG(base_stat.st_mode):
        files = [("", base)]
    elif stat.S_ISDIR(base_stat.st_mode):
        files = sorted(_walk_files(base))
    else:
        raise ValueError(f"{str(base)!r} is neither a regular file nor a directory.")
    digest = hashlib.sha256()
    total = 0
    for relative, file_path in files:
        size = file_path.lstat().st_size
        digest.update(relative.encode("utf-8") + b"\0" + size.to_bytes(8, "big"))
        read = _feed_chunks(digest.update, file_path)
        if read != size:
            # The size went into the digest before the content; a file still being
            # written would give a digest that matches neither its old nor its new bytes.
            raise RuntimeError(f"{str(file_path)!r} changed size while it was being hashed.")
        total += size
    return digest.hexdigest(), total


def _walk_files(base: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        directory = Path(dirpath)
        for name in dirnames:
            if (directory / name).is_symlink():
                raise ValueError(f"Refusing to read symlink {str(directory / name)!r} in an artifact.")
        for name in filenames:
            file_path = directory / name
            if name.startswith(".") and name.endswith(".tmp"):
                continue  # a writer's temp file, not (yet) part of the artifact
            mode = file_path.lstat().st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(
                    f"Refusing to read {str(file_path)!r}: not a regular file "
                    "(artifacts may only contain plain files and folders)."
                )
            yield file_path.relative_to(base).as_posix(), file_path


def _feed_chunks(update: Callable[[bytes], object], file_path: Path) -> int:
    read = 0
    with open(file_path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            update(chunk)
            read += len(chunk)
    return read


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a file for writing that appears at `path` only if the block succeeds.

    For code that writes around the stores (a plain path). Modes: "wb" or "w"/"wt"
    (UTF-8). The parent folder must exist.
    """
    if mode not in _TEXT_MODES | _BINARY_MODES:
        raise ValueError(f"atomic_open supports modes 'wb', 'w' and 'wt', not {mode!r}.")
    handle = wrap_mode(_LocalWriter(Path(path)), mode)
    with handle:
        yield handle


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` all at once or not at all (see `atomic_open`)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a folder for fsync; its renames are journaled.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
