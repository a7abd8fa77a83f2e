"""Where artifact bytes live on disk, and how they get there safely.

Every output gets its own directory, named only from database ids, so no user text
(step names, output names) ever becomes part of a path. Writers use `atomic_write`
or `atomic_open` so a reader (or a crashed worker's successor) never sees half a
file: the bytes land in a temp file beside the target and are renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

_CHUNK_SIZE = 1024 * 1024
_TEXT_MODES = frozenset({"w", "wt"})
_BINARY_MODES = frozenset({"wb"})


class LocalArtifactStore:
    """Artifacts under one root folder on a filesystem every worker can reach."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        # realpath so a root reached through a symlink (/tmp on macOS, a mounted
        # volume) still compares equal to the resolved uris that `resolve` checks.
        self.root = Path(os.path.realpath(os.fspath(root)))

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def uri_for(self, *, run_id: int, step_run_id: int, attempt: int, output_index: int) -> str:
        """The directory one output of one step attempt is written to.

        The attempt is part of the path so a retry never overwrites (or reads) what a
        crashed earlier attempt left behind.
        """
        for name, value in (
            ("run_id", run_id),
            ("step_run_id", step_run_id),
            ("attempt", attempt),
            ("output_index", output_index),
        ):
            _check_id(name, value)
        return str(
            self.root / "runs" / str(run_id) / "steps" / str(step_run_id) / f"attempt-{attempt}" / str(output_index)
        )

    def uri_for_saved(self, *, version_id: int) -> str:
        """The directory of an artifact version saved with `save_artifact` (not a step output)."""
        _check_id("version_id", version_id)
        return str(self.root / "saved" / str(version_id))

    def resolve(self, uri: str | os.PathLike[str]) -> Path:
        """The real path of `uri`, refusing anything that is not strictly inside root.

        Uris come back from the database and the API, so they are checked every time
        they are used rather than trusted. The root itself is refused too: nothing
        should ever remove or overwrite the whole store.
        """
        raw = os.fspath(uri)
        if not isinstance(raw, str):
            raise ValueError(f"Artifact uri must be a str path, got {type(raw).__name__}.")
        if "\0" in raw:
            raise ValueError(f"Artifact uri {raw!r} contains a NUL byte.")
        if not os.path.isabs(raw):
            raise ValueError(
                f"Artifact uri {raw!r} is not an absolute path; uris come from "
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

    def ensure_dir(self, uri: str | os.PathLike[str]) -> Path:
        path = self.resolve(uri)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove(self, uri: str | os.PathLike[str]) -> None:
        """Delete what is stored at `uri`; a missing uri is not an error."""
        path = self.resolve(uri)
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            pass

    def checksum(self, uri: str | os.PathLike[str]) -> tuple[str, int]:
        """SHA-256 hex digest and total size in bytes of what is stored at `uri`."""
        return tree_checksum(self.resolve(uri))


def tree_checksum(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 hex digest and total size of a directory tree or a single file.

    Each file contributes its relative POSIX path, a NUL, its size as 8 big-endian
    bytes and its content, in sorted path order: the digest is the same on every
    machine, and renaming or moving a file changes it. A single file is hashed with an
    empty relative path, so only its content counts. Empty directories do not count.
    Symlinks and special files are refused: an artifact is plain files, and following
    a link could read outside the store.
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
        total += _feed_file(digest.update, relative, file_path)
    return digest.hexdigest(), total


def _walk_files(base: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        directory = Path(dirpath)
        for name in dirnames:
            if (directory / name).is_symlink():
                raise ValueError(f"Refusing to checksum symlink {str(directory / name)!r}.")
        for name in filenames:
            file_path = directory / name
            mode = file_path.lstat().st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(
                    f"Refusing to checksum {str(file_path)!r}: not a regular file "
                    "(artifacts may only contain plain files and folders)."
                )
            yield file_path.relative_to(base).as_posix(), file_path


def _feed_file(update: Callable[[bytes], object], relative: str, file_path: Path) -> int:
    with open(file_path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        update(relative.encode("utf-8") + b"\0" + size.to_bytes(8, "big"))
        read = 0
        while chunk := handle.read(_CHUNK_SIZE):
            update(chunk)
            read += len(chunk)
    if read != size:
        # The size went into the digest before the content; a file still being
        # written would give a digest that matches neither its old nor its new bytes.
        raise RuntimeError(f"{str(file_path)!r} changed size while it was being hashed.")
    return size


def _check_id(name: str, value: object) -> None:
    # `type(...) is int` rather than isinstance: bool is an int subclass, and neither
    # it nor enums or numpy integers belong in a path.
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}.")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a file for writing that appears at `path` only if the block succeeds.

    Modes: "wb" (binary) or "w"/"wt" (text, UTF-8). On success the data is fsynced,
    renamed onto `path` (replacing any earlier file) and the folder is fsynced so the
    rename survives a power cut. On an exception the temp file is removed and `path`
    is left as it was. The parent folder must exist.
    """
    if mode not in _TEXT_MODES | _BINARY_MODES:
        raise ValueError(f"atomic_open supports modes 'wb', 'w' and 'wt', not {mode!r}.")
    target = Path(path)
    # Same folder as the target so os.replace is a rename, never a cross-device copy.
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    # os.open with 0o666 rather than mkstemp (0o600) so the final file gets the same
    # umask-derived permissions a plain open() would give it.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        if mode in _TEXT_MODES:
            handle: IO[Any] = os.fdopen(fd, "w", encoding="utf-8")
        else:
            handle = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


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
