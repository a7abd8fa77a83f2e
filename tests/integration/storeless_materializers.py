"""A materializer for the store-less Client test, in a module without Django so the
client process can import it."""

from __future__ import annotations

from typing import Any

from pipelines.sdk import fileio
from pipelines.sdk.materializers.base import BaseMaterializer


class SingleFileArrayMaterializer(BaseMaterializer):
    """A version that is one `.npy` file (its uri is the file), read through fileio."""

    ASSOCIATED_TYPES = ("numpy.ndarray",)
    SKIP_REGISTRATION = True  # for the steps that name it, not every array

    def load(self, data_type: type) -> Any:
        import numpy as np

        with fileio.open(self.uri, "rb") as handle:
            return np.load(handle, allow_pickle=False)

    def save(self, data: Any) -> None:
        raise NotImplementedError("Test versions of this kind are written by the test itself.")
