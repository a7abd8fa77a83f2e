"""Pipelines for the object-store tests: outputs large enough for multipart uploads,
numpy and pandas materializers, and save_artifact from inside a step."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd

from pipelines import pipeline, save_artifact, step

ARRAY_BYTES = 12 * 1024 * 1024  # past two 5 MiB parts: a multipart upload on S3


@step
def make_array() -> Annotated[np.ndarray, "big_array"]:
    return np.arange(ARRAY_BYTES // 8, dtype=np.int64)


@step
def summarize(array: np.ndarray) -> Annotated[pd.DataFrame, "summary"]:
    save_artifact({"length": int(array.size)}, name="array_facts")
    return pd.DataFrame({"sum": [int(array.sum())], "size": [int(array.size)]})


@pipeline(enable_cache=False)
def store_pipeline():
    summarize(make_array())
