"""The contract every materializer implements: turn one Python value into files and back."""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, ClassVar


class BaseMaterializer(abc.ABC):
    """Saves values of its associated types to a folder (`uri`) and loads them back.

    Subclasses set `ASSOCIATED_TYPES` and implement `load` and `save`. A type may be
    given as a class or, for libraries that are slow to import (numpy, pandas), as the
    string `"module.QualName"` so the registry can match it without importing anything.
    """

    ASSOCIATED_TYPES: ClassVar[tuple[type | str, ...]] = ()
    # What the artifact is to people browsing it: "data", "model", "schema", ...
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[str] = "data"

    def __init__(self, uri: str) -> None:
        self.uri = uri

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
        """The artifact folder, created if missing, for `save` implementations."""
        path = Path(self.uri)
        os.makedirs(path, exist_ok=True)
        return path
