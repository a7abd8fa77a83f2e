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

    # Registered lazily, by type name, in the package's __init__: registering again
    # when this module is imported would override a user's later registration.
    SKIP_REGISTRATION = True
    ASSOCIATED_TYPES = ("numpy.ndarray",)

    def load(self, data_type: type) -> Any:
        store, path = self.artifact_store, self._file(ARRAY_FILENAME)
        if not store.exists(path):
            if store.exists(self._file(PICKLE_FILENAME)):
                return load_pickle(self._file(PICKLE_FILENAME))
            raise FileNotFoundError(f"No saved array in {self.uri!r}: expected {ARRAY_FILENAME} or {PICKLE_FILENAME}.")
        with store.open(path, "rb") as handle:
            array = _read_plain_array(handle)
            if array is not None:
                return array
            handle.seek(0)
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
        with self.artifact_store.open(self._file(ARRAY_FILENAME), "wb") as handle:
            if not _write_plain_array(handle, data):
                np.save(handle, data, allow_pickle=data.dtype.hasobject)
        self._remove_if_exists(PICKLE_FILENAME)

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"shape": [int(n) for n in data.shape], "dtype": str(data.dtype), "size": int(data.size)}


# Large arrays go straight between the array's memory and the file, in big pieces:
# np.save copies a stream-written array into 16 MiB bytes objects first, and np.load
# reads a stream in 256 KiB pieces (it reads only real files directly, and the
# store's files are streams that hash as they go). Same .npy format, written and read
# by numpy's own header functions.
_PIECE = 64 * 1024 * 1024


def _not_plain(dtype: np.dtype) -> bool:
    # Objects need pickle; records, sub-arrays and empty items numpy's own code handles.
    return dtype.hasobject or dtype.names is not None or dtype.subdtype is not None or dtype.itemsize == 0


def _flat_bytes(array: np.ndarray) -> memoryview | None:
    """The array's data as bytes in .npy order, without a copy, when it has them."""
    if array.flags.c_contiguous:
        flat = array.reshape(-1)
    elif array.flags.f_contiguous:
        flat = array.T.reshape(-1)  # .npy stores a Fortran array's transpose in C order
    else:
        return None
    return memoryview(flat.view(np.uint8)) if flat.size else memoryview(b"")


def _write_plain_array(handle: Any, array: np.ndarray) -> bool:
    """Write `array` as .npy without copying its data; False when np.save must do it."""
    if _not_plain(array.dtype):
        return False
    data = _flat_bytes(array)
    if data is None:
        return False
    header = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(handle, header)
    except ValueError:  # a header over 64 KiB (a very high-dimensional shape)
        return False  # nothing was written: numpy checks the size before writing
    for start in range(0, len(data), _PIECE):
        handle.write(data[start : start + _PIECE])
    return True


def _read_plain_array(handle: Any) -> np.ndarray | None:
    """Read a .npy array straight into a new array; None when np.load must do it."""
    try:
        version = np.lib.format.read_magic(handle)
    except ValueError:
        return None
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        return None
    if _not_plain(dtype):
        return None
    count = 1
    for n in shape:
        count *= n
    flat = np.empty(count, dtype=dtype)
    view = memoryview(flat.view(np.uint8)) if count else memoryview(b"")
    done = 0
    while done < len(view):
        read = handle.readinto(view[done:])
        if not read:
            raise ValueError(f"EOF: reading array data, expected {len(view)} bytes got {done}")
        done += read
    if fortran_order:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)
