"""pandas DataFrames and Series. Imported only when a pandas value is saved or loaded.

Parquet when pyarrow is installed and the frame fits it (string column names,
columns of one type), else pickle. The file name records the format and, for
parquet, whether it was a Series: `df.parquet`, `series.parquet` or `df.pkl` (which
holds either kind).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pandas as pd

from pipelines.sdk.materializers.base import BaseMaterializer

FRAME_PARQUET = "df.parquet"
SERIES_PARQUET = "series.parquet"
PICKLE_FILENAME = "df.pkl"
PREVIEW_FILENAME = "preview.csv"

_DATA_FILES = (FRAME_PARQUET, SERIES_PARQUET, PICKLE_FILENAME)
_PREVIEW_ROWS = 20
_METADATA_COLUMNS = 50


class PandasMaterializer(BaseMaterializer):
    # pandas 3 reports its public classes as `pandas.DataFrame`; older releases as
    # `pandas.core.frame.DataFrame`. Both are listed so either install matches.
    # Registered lazily, by type name, in the package's __init__: registering again
    # when this module is imported would override a user's later registration.
    SKIP_REGISTRATION = True
    ASSOCIATED_TYPES = (
        "pandas.DataFrame",
        "pandas.Series",
        "pandas.core.frame.DataFrame",
        "pandas.core.series.Series",
    )

    def load(self, data_type: type) -> Any:
        store = self.artifact_store
        if store.exists(self._file(FRAME_PARQUET)):
            with store.open(self._file(FRAME_PARQUET), "rb") as handle:
                return pd.read_parquet(handle)
        if store.exists(self._file(SERIES_PARQUET)):
            with store.open(self._file(SERIES_PARQUET), "rb") as handle:
                return pd.read_parquet(handle).iloc[:, 0]
        if store.exists(self._file(PICKLE_FILENAME)):
            with store.open(self._file(PICKLE_FILENAME), "rb") as handle:
                return pd.read_pickle(handle)  # our own store, see pickle_materializer
        raise FileNotFoundError(
            f"No saved DataFrame or Series in {self.uri!r}: expected one of {', '.join(_DATA_FILES)}."
        )

    def save(self, data: Any) -> None:
        for name in _DATA_FILES:
            self._remove_if_exists(name)
        if not _save_parquet(self, data):
            with self.artifact_store.open(self._file(PICKLE_FILENAME), "wb") as handle:
                pd.to_pickle(data, handle)

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        frame = data.to_frame() if isinstance(data, pd.Series) else data
        columns = frame.columns[:_METADATA_COLUMNS]
        dtypes = frame.dtypes.iloc[:_METADATA_COLUMNS]
        return {
            "shape": [int(frame.shape[0]), int(frame.shape[1])],
            "columns": [str(column) for column in columns],
            "dtypes": {str(column): str(dtype) for column, dtype in zip(columns, dtypes, strict=True)},
        }

    def save_visualizations(self, data: Any) -> dict[str, str]:
        path = self._file(PREVIEW_FILENAME)
        with self.artifact_store.open(path, "w") as handle:
            data.head(_PREVIEW_ROWS).to_csv(handle)
        return {path: "csv"}


def pyarrow_available() -> bool:
    # find_spec, not import: checking must not cost the import of pyarrow.
    return importlib.util.find_spec("pyarrow") is not None


def _save_parquet(materializer: BaseMaterializer, data: Any) -> bool:
    """Write `data` as parquet if it round-trips there; False if pickle must do."""
    # Subclasses would come back as plain DataFrames from parquet.
    if type(data) is pd.DataFrame:
        frame, path = data, materializer._file(FRAME_PARQUET)
    elif type(data) is pd.Series and isinstance(data.name, str):
        frame, path = data.to_frame(), materializer._file(SERIES_PARQUET)
    else:
        return False
    if not pyarrow_available():
        return False
    try:
        with materializer.artifact_store.open(path, "wb") as handle:
            frame.to_parquet(handle, engine="pyarrow")
    except (ImportError, ValueError, TypeError, NotImplementedError):
        # pyarrow too old for this pandas, or a frame parquet cannot hold (an object
        # column mixing ints and strs, say); pyarrow's errors subclass these.
        return False
    return True
