"""Files registered where they lie (`register_artifact`): loaded as a `pathlib.Path`.

A registered file or folder keeps its own layout in the store (no `path.json`, no
copy); loading copies it to a fresh local temporary folder, as `PathMaterializer`
does, and returns the `Path` of the copy: the file itself, or a folder holding the
registered folder's files. Never chosen for a step's output: only the server names it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.materializers.path_materializer import _safe_relative

_CHUNK = 1024 * 1024


class RegisteredPathMaterializer(BaseMaterializer):
    SKIP_REGISTRATION: ClassVar[bool] = True

    def load(self, data_type: type) -> Path:
        target = Path(tempfile.mkdtemp(prefix="pipelines-registered-"))
        store = self.artifact_store
        if not store.isdir(self.uri):
            local = target / _safe_relative(self.uri.rstrip("/").rsplit("/", 1)[-1])
            self._download(self.uri, local)
            return local
        for relative, _ in store.walk(self.uri):
            if relative:
                self._download(self._file(relative), target / _safe_relative(relative))
        return target

    def save(self, data: Any) -> None:
        raise TypeError(
            "RegisteredPathMaterializer only loads files registered with register_artifact(); "
            "a Path output is saved by PathMaterializer."
        )

    def _download(self, uri: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        with self.artifact_store.open(uri, "rb") as reader, open(local, "wb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)
