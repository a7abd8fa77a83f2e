"""The last resort: any picklable value, stored as `data.pkl`.

Pickles are only read back from our own artifact store, which is as trusted as the
step code itself; never point a materializer at a folder someone else can write to.
A pickle also ties the artifact to the Python version and the class definitions of
the code that wrote it, which is why the registry warns whenever it falls back here.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

from pipelines.sdk import fileio
from pipelines.sdk.materializers.base import BaseMaterializer

PICKLE_FILENAME = "data.pkl"


def save_pickle(path: str | os.PathLike[str], data: Any) -> None:
    with fileio.open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)


def load_pickle(path: str | os.PathLike[str]) -> Any:
    with fileio.open(path, "rb") as handle:
        return pickle.load(handle)  # our own artifact store, see module doc


class PickleMaterializer(BaseMaterializer):
    """Fallback for types no other materializer claims; registered for none."""

    def load(self, data_type: type) -> Any:
        return load_pickle(self._file(PICKLE_FILENAME))

    def save(self, data: Any) -> None:
        save_pickle(self._file(PICKLE_FILENAME), data)
