"""Pipelines for the object-store tests: outputs large enough for multipart uploads,
numpy and pandas materializers, and save_artifact from inside a step."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import numpy as np
import pandas as pd

from pipelines import pipeline, save_artifact, step
from pipelines.io import fileio
from pipelines.sdk.materializers.base import BaseMaterializer

ARRAY_BYTES = 12 * 1024 * 1024  # past two 5 MiB parts: a multipart upload on S3


@step
def make_array() -> Annotated[np.ndarray, "big_array"]:
    return np.arange(ARRAY_BYTES // 8, dtype=np.int64)


@step
def summarize(array: np.ndarray) -> Annotated[pd.DataFrame, "summary"]:
    save_artifact({"length": int(array.size)}, name="array_facts")
    return pd.DataFrame({"sum": [int(array.sum())], "size": [int(array.size)]})


class Scores(dict):
    pass


class ScoresMaterializer(BaseMaterializer):
    """A custom materializer written as ZenML's: os.path.join on self.uri and fileio."""

    ASSOCIATED_TYPES = (Scores,)

    def load(self, data_type: type) -> Any:
        with fileio.open(os.path.join(self.uri, "scores.json"), "r") as handle:
            return Scores(json.load(handle))

    def save(self, data: Any) -> None:
        with fileio.open(os.path.join(self.uri, "scores.json"), "w") as handle:
            json.dump(dict(data), handle)


@step(output_materializers=ScoresMaterializer)
def score(summary: pd.DataFrame) -> Annotated[Scores, "scores"]:
    return Scores(total=int(summary["sum"][0]))


@step
def read_scores(scores: Scores) -> Annotated[int, "checked_total"]:
    assert isinstance(scores, Scores)
    return scores["total"]


@pipeline(enable_cache=False)
def store_pipeline():
    read_scores(score(summarize(make_array())))
