"""`pathlib.Path`: the file or folder it names is copied into the store, byte for byte.

Only the path string would be useless to the next step, which may run on another
machine. A file is stored as `file/<its name>`, a folder's files below `folder/`
(each its own object, so they are checksummed, previewed and downloaded like any
other); `path.json` says which. Loading copies them to a fresh local temporary
folder and returns the `Path` of the copy, which the reader may change freely.
Symbolic links are followed for files; linked folders are not entered (no loops),
and empty folders are not kept (an object store has no folders).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from pipelines.sdk.materializers.base import BaseMaterializer

MANIFEST = "path.json"
FILE_FOLDER = "file"
DIR_FOLDER = "folder"
_CHUNK = 1024 * 1024


class PathMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (Path,)

    def save(self, data: Any) -> None:
        path = Path(data)
        if path.is_dir():
            for root, _, names in os.walk(path):
                for name in sorted(names):
                    local = Path(root, name)
                    if local.is_file():
                        self._upload(local, f"{DIR_FOLDER}/{local.relative_to(path).as_posix()}")
            kind = "folder"
        elif path.is_file():
            self._upload(path, f"{FILE_FOLDER}/{path.name}")
            kind = "file"
        else:
            raise FileNotFoundError(f"{path} is neither a file nor a folder; a Path output must name one that exists.")
        with self.artifact_store.open(self._file(MANIFEST), "wb") as handle:
            handle.write(json.dumps({"kind": kind, "name": path.name}).encode())

    def load(self, data_type: type) -> Path:
        with self.artifact_store.open(self._file(MANIFEST), "rb") as handle:
            manifest = json.loads(handle.read())
        # Not deleted at exit: the caller owns the copy (as with ZenML's).
        target = Path(tempfile.mkdtemp(prefix="pipelines-path-"))
        if manifest["kind"] == "file":
            local = target / _safe_relative(manifest["name"])
            self._download(self._file(f"{FILE_FOLDER}/{manifest['name']}"), local)
            return local
        folder = self._file(DIR_FOLDER)
        if self.artifact_store.exists(folder):
            for relative, _ in self.artifact_store.walk(folder):
                if relative:
                    self._download(self._file(f"{DIR_FOLDER}/{relative}"), target / _safe_relative(relative))
        return target

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"name": Path(data).name, "is_folder": Path(data).is_dir()}

    def _upload(self, local: Path, name: str) -> None:
        with open(local, "rb") as reader, self.artifact_store.open(self._file(name), "wb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)

    def _download(self, uri: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        with self.artifact_store.open(uri, "rb") as reader, open(local, "wb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)


def _safe_relative(name: str) -> Path:
    # The names come from the store; one crafted to climb out must not write elsewhere.
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
        raise ValueError(f"Refusing to restore {name!r}: not a plain relative path.")
    return Path(*parts)
