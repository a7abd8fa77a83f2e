"""The contract every materializer implements: turn one Python value into files and back."""

from __future__ import annotations

import abc
import inspect
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pipelines.sdk.stores import ArtifactStore


# The registry installs itself here (install_registration) rather than being imported:
# it imports this module. Classes defined before that wait in _pending.
_register: Callable[[type[BaseMaterializer]], object] | None = None
_pending: list[type[BaseMaterializer]] = []


def install_registration(register: Callable[[type[BaseMaterializer]], object]) -> None:
    """Make `register` what defining a materializer calls; registers those defined so far."""
    global _register
    _register = register
    while _pending:
        register(_pending.pop(0))


class BaseMaterializer(abc.ABC):
    """Saves values of its associated types to a folder (`uri`) and loads them back.

    Read and write files below `self.uri` through `pipelines.sdk.fileio` (or
    `self.artifact_store`), never with `open`/`os` directly: the uri may be an
    `s3://` uri, and files written through the file API are atomic and checksummed
    as they stream.

    Subclasses set `ASSOCIATED_TYPES` and implement `load` and `save`. A type may be
    given as a class or, for libraries that are slow to import (numpy, pandas), as the
    string `"module.QualName"` so the registry can match it without importing anything.

    Defining a subclass registers it for the `ASSOCIATED_TYPES` it sets itself, as in
    ZenML; `SKIP_REGISTRATION = True` opts out (a materializer meant only for
    `@step(output_materializers=...)`).
    """

    ASSOCIATED_TYPES: ClassVar[tuple[type | str, ...]] = ()
    SKIP_REGISTRATION: ClassVar[bool] = False
    # What the artifact is to people browsing it: "data", "model", "schema", ...
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[str] = "data"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only what the class says itself: a subclass that merely tweaks a built-in
        # (streams one file differently, say) must not take over every type of its
        # parent, nor inherit its parent's opt-out. Abstract intermediate classes have
        # nothing to save with.
        own = cls.__dict__
        if own.get("SKIP_REGISTRATION", False) or not own.get("ASSOCIATED_TYPES"):
            return
        if inspect.isabstract(cls):
            return
        if _register is None:
            _pending.append(cls)
        else:
            _register(cls)

    def __init__(self, uri: str, artifact_store: ArtifactStore | None = None) -> None:
        self.uri = uri
        if artifact_store is not None:
            self.artifact_store = artifact_store

    @cached_property
    def artifact_store(self) -> ArtifactStore:
        """The store `self.uri` lives in."""
        from pipelines.sdk.stores import store_for_path

        return store_for_path(self.uri)

    def _file(self, name: str) -> str:
        """The uri of the file `name` below `self.uri`."""
        from pipelines.sdk.stores import join_uri

        return join_uri(self.uri, name)

    def _remove_if_exists(self, name: str) -> None:
        path = self._file(name)
        if self.artifact_store.exists(path):
            self.artifact_store.remove(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    @abc.abstractmethod
    def load(self, data_type: type) -> Any:
        """Read the value saved at `self.uri`; `data_type` is what the reader expects."""

    @abc.abstractmethod
    def save(self, data: Any) -> None:
        """Write `data` below `self.uri`, creating the folder if needed."""

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        """JSON-serialisable facts about `data` shown next to the artifact.

        Must stay cheap (shapes, lengths, dtypes): it runs on every save, so no
        statistics over a whole array.
        """
        return {}

    def save_visualizations(self, data: Any) -> dict[str, str]:
        """Write previews below `self.uri`; returns file path -> visualization type.

        Types: "image", "csv", "markdown", "html", "json", "text".
        """
        return {}

    def _prepared_dir(self) -> Path:
        """The artifact folder, created if missing (local stores only; kept for
        materializers written before the file API)."""
        path = Path(self.uri)
        os.makedirs(path, exist_ok=True)
        return path
