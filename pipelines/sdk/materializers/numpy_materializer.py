"""numpy arrays as `.npy`. Imported only when a numpy value is saved or loaded."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.materializers.pickle_materializer import (
    PICKLE_FILENAME,
    load_pickle,
    save_pickle,
)

ARRAY_FILENAME = "array.npy"


class NumpyMaterializer(BaseMaterializer):
    """`np.ndarray` as `array.npy`; subclasses (masked arrays, matrices) are pickled.

    Only object arrays are written with pickling allowed; every other dtype is plain
    binary that any numpy can read.
    """

    ASSOCIATED_TYPES = ("numpy.ndarray",)

    def load(self, data_type: type) -> Any:
        store, path = self.artifact_store, self._file(ARRAY_FILENAME)
        if not store.exists(path):
            if store.exists(self._file(PICKLE_FILENAME)):
                return load_pickle(self._file(PICKLE_FILENAME))
            raise FileNotFoundError(f"No saved array in {self.uri!r}: expected {ARRAY_FILENAME} or {PICKLE_FILENAME}.")
        # np.load reads a stream in small chunks straight into the new array, so a
        # large array is never held twice.
        with store.open(path, "rb") as handle:
            try:
                return np.load(handle, allow_pickle=False)
            except ValueError:
                # Object arrays refuse to load without pickle; only they were saved with it.
                handle.seek(0)
                return np.load(handle, allow_pickle=True)

    def save(self, data: Any) -> None:
        # A subclass would lose what makes it special (a mask, say) in a .npy file.
        if type(data) is not np.ndarray:
            save_pickle(self._file(PICKLE_FILENAME), data)
            self._remove_if_exists(ARRAY_FILENAME)
            return
        # np.save writes a stream in chunks of about 16 MiB, each hashed and uploaded
        # as it passes.
        with self.artifact_store.open(self._file(ARRAY_FILENAME), "wb") as handle:
            np.save(handle, data, allow_pickle=data.dtype.hasobject)
        self._remove_if_exists(PICKLE_FILENAME)

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"shape": [int(n) for n in data.shape], "dtype": str(data.dtype), "size": int(data.size)}
