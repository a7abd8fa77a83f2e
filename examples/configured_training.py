"""A pipeline configured by a YAML file (examples/configured_training.yaml), with
hooks, whose trained model is promoted to production and then loaded by its stage in
a second pipeline.

Shows: `with_options(config_path=...)` (pipeline parameters, a step's parameters,
tags, extra, the model, as ZenML's configuration files), `get_pipeline_context()` in a
pipeline body, an `on_success` hook and the webhook alerter of `pipelines.hooks` as
`on_failure` (it posts only when a step fails, to the URL in the secret
`slack_webhook`), `Model.set_stage("production")` and `Model(name=...,
version="production")`.

    .venv/bin/python examples/configured_training.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from pipelines import ArtifactConfig, Model, get_pipeline_context, get_step_context, pipeline, step
from pipelines.hooks import webhook_alerter_failure_hook

CONFIG = Path(__file__).with_suffix(".yaml")
MODEL_NAME = "configured_iris"


def announce_success() -> None:
    """The pipeline's on_success hook: the default of each of its steps."""
    context = get_step_context()
    print(f"on_success: step {context.step_run.name} of run {context.pipeline_run.name} finished")


@step
def load_iris_frame(
    test_size: float = 0.25,
) -> tuple[Annotated[pd.DataFrame, "train_set"], Annotated[pd.DataFrame, "test_set"]]:
    frame = load_iris(as_frame=True).frame
    train, test = train_test_split(frame, test_size=test_size, random_state=42, stratify=frame["target"])
    return train, test


@step
def train(
    train_set: pd.DataFrame, c: float = 1.0
) -> Annotated[BaseEstimator, ArtifactConfig(name="configured_classifier", is_model_artifact=True)]:
    print(f"Training with C={c} for model version {get_step_context().model.version}")
    model = LogisticRegression(C=c, max_iter=500)
    model.fit(train_set.drop(columns="target"), train_set["target"])
    return model


@step
def evaluate(classifier: BaseEstimator, test_set: pd.DataFrame) -> Annotated[float, "accuracy"]:
    accuracy = float(accuracy_score(test_set["target"], classifier.predict(test_set.drop(columns="target"))))
    get_step_context().model.log_metadata({"accuracy": accuracy})
    return accuracy


@pipeline(on_success=announce_success, on_failure=webhook_alerter_failure_hook(secret_name="slack_webhook"))
def configured_training(test_size: float = 0.25):
    context = get_pipeline_context()
    print(f"Tracing {context.name} for model {context.model.name}, extra {context.extra}, tags {context.tags}")
    train_set, test_set = load_iris_frame(test_size=test_size)
    evaluate(train(train_set), test_set)


@step
def predict(test_set: pd.DataFrame) -> Annotated[list[int], "predictions"]:
    model = get_step_context().model  # the version in production
    classifier = model.load_artifact("configured_classifier")
    print(f"Predicting with {model.name} version {model.version} ({model.stage})")
    return [int(label) for label in classifier.predict(test_set.drop(columns="target"))]


@pipeline(enable_cache=False, model=Model(name=MODEL_NAME, version="production"), tags=["example", "inference"])
def batch_inference():
    _, test_set = load_iris_frame()
    predict(test_set)


if __name__ == "__main__":
    run = configured_training.with_options(config_path=str(CONFIG))()
    accuracy = run.steps["evaluate"].outputs["accuracy"].load()
    print(f"{run.name}: {run.status}, tags {run.tags}, accuracy {accuracy:.3f}")

    trained = Model(name=MODEL_NAME, version="latest")
    trained.set_stage("production", force=True)
    print(f"Promoted {MODEL_NAME} version {trained.number} to production")

    inference = batch_inference()
    predictions = inference.steps["predict"].outputs["predictions"].load()
    print(f"{inference.name}: {inference.status}, {len(predictions)} predictions from the production model")
