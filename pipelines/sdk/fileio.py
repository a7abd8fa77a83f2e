"""ZenML's `fileio` for every artifact store: module functions that dispatch on the path.

A materializer written as ZenML's works unchanged on a local store and an object
store alike::

    with fileio.open(os.path.join(self.uri, "data.json"), "w") as f:
        f.write(text)

Paths are local paths or `s3://` (`gs://`, `az://`) uris. Writes are atomic per file
(nothing appears until the file is closed without error) and are hashed as they
stream, so the version's checksum costs no second read. Folders do not exist in an
object store: `makedirs`/`mkdir` do nothing there, and a folder "exists" while a
file is below it.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import shutil
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any
from urllib.parse import urlsplit

from pipelines.sdk.stores import ArtifactStore, LocalArtifactStore, join_uri, store_for_path

__all__ = [
    "copy",
    "exists",
    "glob",
    "isdir",
    "listdir",
    "makedirs",
    "mkdir",
    "open",
    "remove",
    "rename",
    "rmtree",
    "size",
    "stat",
    "walk",
]

PathType = str | os.PathLike[str]


def _path(path: PathType) -> str:
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"fileio paths are str, not {type(text).__name__}.")
    if not urlsplit(text).scheme and not os.path.isabs(text):
        text = os.path.abspath(text)
    return text


def _store(path: str) -> ArtifactStore:
    return store_for_path(path)


def open(path: PathType, mode: str = "r") -> IO[Any]:
    """Open one file: 'r'/'rb' stream it, 'w'/'wb' write it atomically (UTF-8 for text)."""
    target = _path(path)
    return _store(target).open(target, mode)


def exists(path: PathType) -> bool:
    target = _path(path)
    return _store(target).exists(target)


def isdir(path: PathType) -> bool:
    target = _path(path)
    return _store(target).isdir(target)


def listdir(path: PathType) -> list[str]:
    """Names directly below `path` (files and folders), sorted."""
    target = _path(path)
    return _store(target).listdir(target)


def makedirs(path: PathType) -> None:
    target = _path(path)
    _store(target).makedirs(target)


def mkdir(path: PathType) -> None:
    target = _path(path)
    store = _store(target)
    if isinstance(store, LocalArtifactStore):
        os.mkdir(store.resolve(target))
    else:
        store.makedirs(target)


def remove(path: PathType) -> None:
    """Delete one file (a folder is refused: use `rmtree`)."""
    target = _path(path)
    store = _store(target)
    if store.isdir(target):
        raise IsADirectoryError(f"{target} is a folder; use fileio.rmtree to delete it.")
    if not store.exists(target):
        raise FileNotFoundError(f"No file at {target}.")
    store.remove(target)


def rmtree(path: PathType) -> None:
    target = _path(path)
    store = _store(target)
    if not store.isdir(target):
        raise NotADirectoryError(f"{target} is not a folder.")
    store.remove(target)


def copy(src: PathType, dst: PathType, overwrite: bool = False) -> None:
    """Copy one file, streaming it (between stores too)."""
    source, target = _path(src), _path(dst)
    if not overwrite and exists(target):
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it.")
    with _store(source).open(source, "rb") as reader, _store(target).open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, 1024 * 1024)


def rename(src: PathType, dst: PathType, overwrite: bool = False) -> None:
    """Move one file; on an object store this is a copy and a delete, not atomic."""
    source, target = _path(src), _path(dst)
    if not overwrite and exists(target):
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it.")
    source_store, target_store = _store(source), _store(target)
    if source_store == target_store and hasattr(source_store, "rename"):
        source_store.rename(source, target)
        return
    copy(source, target, overwrite=True)
    source_store.remove(source)


def size(path: PathType) -> int:
    """The size of a file, or the total of the files below a folder."""
    target = _path(path)
    return _store(target).size(target)


def stat(path: PathType) -> os.stat_result | dict[str, Any]:
    """os.stat for a local path; for an object, obstore's metadata (size, last_modified, e_tag)."""
    target = _path(path)
    store = _store(target)
    if isinstance(store, LocalArtifactStore):
        return os.stat(store.resolve(target))
    return store.stat(target)  # type: ignore[attr-defined]


def walk(
    top: PathType, topdown: bool = True, onerror: Callable[[Exception], None] | None = None
) -> Iterator[tuple[str, list[str], list[str]]]:
    """(folder, subfolder names, file names) for `top` and every folder below it, as os.walk."""
    root = _path(top)
    try:
        files = list(_store(root).walk(root))
    except OSError as exc:
        if onerror is not None:
            onerror(exc)
        return
    tree: dict[str, tuple[set[str], list[str]]] = {"": (set(), [])}
    for relative, _ in files:
        if not relative:
            continue
        folder, name = posixpath.split(relative)
        tree.setdefault(folder, (set(), []))[1].append(name)
        while folder:
            parent, child = posixpath.split(folder)
            tree.setdefault(parent, (set(), []))[0].add(child)
            folder = parent
    ordered = sorted(tree, key=lambda folder: (folder.count("/") if folder else -1, folder))
    entries = [(join_uri(root, folder), sorted(tree[folder][0]), sorted(tree[folder][1])) for folder in ordered]
    yield from entries if topdown else reversed(entries)


def glob(pattern: PathType) -> list[str]:
    """Paths matching `pattern` (`*`, `?`, `[...]` within a segment, below a fixed folder)."""
    text = _path(pattern)
    fixed, _, _ = text.partition("*")
    fixed = fixed.split("?")[0].split("[")[0]
    base = fixed.rsplit("/", 1)[0]
    matches: Iterable[str] = (join_uri(base, relative) for relative, _ in _store(base).walk(base) if relative)
    depth = text.count("/")
    return sorted(path for path in matches if path.count("/") == depth and fnmatch.fnmatchcase(path, text))
