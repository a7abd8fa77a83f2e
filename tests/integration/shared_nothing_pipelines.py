"""The pipeline of the shared-nothing test: a run whose data crosses between two workers.

    make_features (default queue) -> train (queue "gpu") -> evaluate (default queue)

`train` consumes the array `make_features` wrote and writes a dict that `evaluate`
consumes with that array; `evaluate` also asks the API, from its worker, where
`train` ran. The values come from plain functions the test calls too,
so it knows what every output must be; they use integer and element-wise float
arithmetic only (no BLAS reductions), so every process computes the same bits.

In an importable module without Django, because workers import steps by module path.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np

from pipelines import get_step_context, log_metadata, pipeline, step
from pipelines.client import Client

GPU_QUEUE = "gpu"
ROWS, COLUMNS = 300, 4


def features_value() -> np.ndarray:
    return np.random.default_rng(11).integers(-1000, 1000, size=(ROWS, COLUMNS), dtype=np.int64)


def model_value(features: np.ndarray) -> dict[str, Any]:
    return {
        "offsets": [int(v) for v in features.min(axis=0)],
        "scales": [int(v) for v in np.ptp(features, axis=0)],
        "rows": int(features.shape[0]),
    }


def scaled_value(features: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    return (features - np.array(model["offsets"])) / np.array(model["scales"], dtype=np.float64)


@step
def make_features() -> Annotated[np.ndarray, "features"]:
    return features_value()


@step(queue=GPU_QUEUE)
def train(features: np.ndarray) -> Annotated[dict, "model"]:
    return model_value(features)


@step
def evaluate(features: np.ndarray, model: dict) -> Annotated[np.ndarray, "scaled"]:
    # Client() in a step reaches the web server at the worker's PIPELINES_SERVER_URL,
    # with the run-scoped token the worker made for this attempt.
    run = Client().get_pipeline_run(get_step_context().pipeline_run.id)
    log_metadata({"model_trained_on": run.steps["train"].worker})
    return scaled_value(features, model)


@pipeline(enable_cache=False)
def shared_nothing_pipeline():
    features = make_features()
    evaluate(features, train(features))
