"""numpy arrays as `.npy`. Imported only when a numpy value is saved or loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipelines.sdk.artifact_store import atomic_open
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
        directory = Path(self.uri)
        path = directory / ARRAY_FILENAME
        if not path.exists():
            if (directory / PICKLE_FILENAME).exists():
                return load_pickle(directory / PICKLE_FILENAME)
            raise FileNotFoundError(f"No saved array in {self.uri!r}: expected {ARRAY_FILENAME} or {PICKLE_FILENAME}.")
        try:
            return np.load(path, allow_pickle=False)
        except ValueError:
            # Object arrays refuse to load without pickle; only they were saved with it.
            return np.load(path, allow_pickle=True)

    def save(self, data: Any) -> None:
        directory = self._prepared_dir()
        # A subclass would lose what makes it special (a mask, say) in a .npy file.
        if type(data) is not np.ndarray:
            save_pickle(directory / PICKLE_FILENAME, data)
            (directory / ARRAY_FILENAME).unlink(missing_ok=True)
            return
        with atomic_open(directory / ARRAY_FILENAME, "wb") as handle:
            np.save(handle, data, allow_pickle=data.dtype.hasobject)
        (directory / PICKLE_FILENAME).unlink(missing_ok=True)

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"shape": [int(n) for n in data.shape], "dtype": str(data.dtype), "size": int(data.size)}
