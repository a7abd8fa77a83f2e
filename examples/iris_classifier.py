"""Train and evaluate a scikit-learn classifier on the iris data bundled with
scikit-learn (nothing is downloaded).

Shows: DataFrame artifacts, several named outputs from one step, parameters, a
custom materializer registered for a type, and the step context inside steps.

    .venv/bin/python examples/iris_classifier.py
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from pipelines import get_step_context, pipeline, step
from pipelines.sdk.materializers import BaseMaterializer, register_materializer


@register_materializer
class SklearnModelMaterializer(BaseMaterializer):
    """Any scikit-learn estimator, pickled (scikit-learn's own advice for persistence)."""

    ASSOCIATED_TYPES = (BaseEstimator,)
    ASSOCIATED_ARTIFACT_TYPE = "model"

    def save(self, data: Any) -> None:
        Path(self.uri).mkdir(parents=True, exist_ok=True)
        (Path(self.uri) / "model.pkl").write_bytes(pickle.dumps(data))

    def load(self, data_type: type) -> Any:
        return pickle.loads((Path(self.uri) / "model.pkl").read_bytes())

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"estimator": type(data).__name__, "params": {k: repr(v) for k, v in data.get_params().items()}}


@step
def load_data() -> Annotated[pd.DataFrame, "iris"]:
    frame = load_iris(as_frame=True).frame
    print(f"Loaded {len(frame)} rows into {get_step_context().get_output_artifact_uri()}")
    return frame


@step
def split_data(
    iris: pd.DataFrame, test_size: float = 0.25, seed: int = 42
) -> tuple[Annotated[pd.DataFrame, "train_set"], Annotated[pd.DataFrame, "test_set"]]:
    train, test = train_test_split(iris, test_size=test_size, random_state=seed, stratify=iris["target"])
    return train, test


@step
def train_model(train_set: pd.DataFrame, c: float = 1.0) -> Annotated[BaseEstimator, "classifier"]:
    context = get_step_context()
    print(f"Training in {context.pipeline_run.name}; saving with {type(context.get_output_materializer()).__name__}")
    model = LogisticRegression(C=c, max_iter=500)
    model.fit(train_set.drop(columns="target"), train_set["target"])
    return model


@step
def evaluate(classifier: BaseEstimator, test_set: pd.DataFrame) -> Annotated[float, "accuracy"]:
    predictions = classifier.predict(test_set.drop(columns="target"))
    accuracy = float(accuracy_score(test_set["target"], predictions))
    print(f"Test accuracy: {accuracy:.3f}")
    return accuracy


@pipeline
def iris_training(test_size: float = 0.25, c: float = 1.0):
    train_set, test_set = split_data(load_data(), test_size=test_size)
    evaluate(train_model(train_set, c=c), test_set)


if __name__ == "__main__":
    run = iris_training(c=0.5)
    accuracy = run.steps["evaluate"].outputs["accuracy"].load()
    print(f"{run.name}: {run.status}, accuracy {accuracy:.3f}")
