"""One small artifact version's files held in memory: how the engine saves and loads a
value kept in its row (`ArtifactVersion.inline_files`, see
pipelines/sdk/artifact_saving.py).

It speaks the store API for the one version uri it was made for, so a materializer
reads and writes it exactly as it would a folder; the uri is only a name here.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

from pipelines.sdk.stores.base import (
    WRITE_MODES,
    ArtifactStore,
    FileHash,
    StreamingWriter,
    check_mode,
    join_uri,
    manifest_digest,
    wrap_mode,
)


class MemoryVersionStore(ArtifactStore):
    """The files below one version `uri`, as {relative POSIX path: bytes}."""

    url = "memory:"

    def __init__(self, uri: str, files: dict[str, bytes] | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.files: dict[str, bytes] = dict(files or {})

    @property
    def root_uri(self) -> str:
        return self.uri.rsplit("/", 1)[0]

    def _relative(self, uri: str) -> str:
        uri = uri.rstrip("/")
        if uri == self.uri:
            return ""
        if uri.startswith(self.uri + "/"):
            return uri[len(self.uri) + 1 :]
        raise ValueError(f"{uri!r} is not below the version {self.uri!r} this in-memory store holds.")

    def contains(self, uri: str) -> bool:
        return isinstance(uri, str) and (uri.rstrip("/") == self.uri or uri.startswith(self.uri + "/"))

    def record_key(self, uri: str) -> str:
        return join_uri(self.uri, self._relative(uri))

    def open(self, uri: str, mode: str = "rb") -> IO[Any]:
        check_mode(mode)
        relative = self._relative(uri)
        if mode in WRITE_MODES:
            return wrap_mode(_MemoryWriter(self, relative), mode)
        if relative not in self.files:
            raise FileNotFoundError(f"No such file: {uri}")
        handle: IO[Any] = io.BytesIO(self.files[relative])
        if mode in ("r", "rt"):
            handle = io.TextIOWrapper(handle, encoding="utf-8")
        return handle

    def exists(self, uri: str) -> bool:
        relative = self._relative(uri)
        return relative in self.files or self.isdir(uri)

    def isdir(self, uri: str) -> bool:
        relative = self._relative(uri)
        prefix = f"{relative}/" if relative else ""
        return any(path.startswith(prefix) and path != relative for path in self.files)

    def listdir(self, uri: str) -> list[str]:
        relative = self._relative(uri)
        prefix = f"{relative}/" if relative else ""
        return sorted({path[len(prefix) :].split("/", 1)[0] for path in self.files if path.startswith(prefix)})

    def walk(self, uri: str) -> Iterator[tuple[str, int]]:
        relative = self._relative(uri)
        if relative in self.files:
            yield "", len(self.files[relative])
            return
        prefix = f"{relative}/" if relative else ""
        for path in sorted(self.files):
            if path.startswith(prefix):
                yield path[len(prefix) :], len(self.files[path])

    def makedirs(self, uri: str) -> None:
        self._relative(uri)  # folders exist as the files below them do

    def remove(self, uri: str) -> None:
        relative = self._relative(uri)
        prefix = f"{relative}/" if relative else ""
        for path in [p for p in self.files if p == relative or p.startswith(prefix)]:
            del self.files[path]

    def size(self, uri: str) -> int:
        return sum(size for _, size in self.walk(uri))

    def check_reachable(self) -> None:
        return None

    def checksum_of_files(self) -> tuple[str, int]:
        """The version checksum (`manifest_digest`) and total size of the files held."""
        entries = []
        for path, data in self.files.items():
            digest = FileHash()
            digest.update(data)
            entries.append((path, len(data), digest.hexdigest()))
        return manifest_digest(entries), sum(len(data) for data in self.files.values())


class _MemoryWriter(StreamingWriter):
    def __init__(self, store: MemoryVersionStore, relative: str) -> None:
        super().__init__(join_uri(store.uri, relative))
        self._store, self._relative, self._buffer = store, relative, io.BytesIO()

    def _sink_write(self, data: memoryview) -> None:
        self._buffer.write(data)

    def _sink_commit(self) -> None:
        self._store.files[self._relative] = self._buffer.getvalue()

    def _sink_abort(self) -> None:
        self._buffer = io.BytesIO()
