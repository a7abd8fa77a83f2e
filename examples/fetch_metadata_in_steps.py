"""The reference page "Fetch metadata within steps", with `zenml` replaced by
`pipelines` (shared/reference/step-context-guide.md).

First a pipeline stores `my_dataset` version `my_version` with an `accuracy` entry,
linked to version `v1` of the model `demo_model` (which gets a `some_value` entry);
then steps fetch the step context, that metadata and the model version, as the page
shows.

    .venv/bin/python examples/fetch_metadata_in_steps.py
"""

from __future__ import annotations

from typing import Annotated

from pipelines import (
    ArtifactConfig,
    Model,
    get_step_context,
    log_artifact_metadata,
    log_model_metadata,
    pipeline,
    step,
)
from pipelines.client import Client

# --- setup: the artifact the page's snippets read -------------------------------------
DEMO_MODEL = Model(name="demo_model", version="v1", description="The model of the reference page")


@step
def make_dataset() -> Annotated[list[float], ArtifactConfig(name="my_dataset", version="my_version")]:
    log_artifact_metadata({"accuracy": 0.91})
    log_model_metadata({"some_value": 42})
    return [0.1, 0.5, 0.9]


@pipeline(model=DEMO_MODEL)
def dataset_pipeline():
    make_dataset()


# --- "Using the StepContext" ----------------------------------------------------------
@step
def my_step() -> Annotated[dict, "context"]:
    step_context = get_step_context()
    pipeline_name = step_context.pipeline.name
    run_name = step_context.pipeline_run.name
    step_name = step_context.step_run.name

    # Get the URI where the output will be saved.
    uri = step_context.get_output_artifact_uri()

    # Get the materializer that will be used to save the output.
    materializer = step_context.get_output_materializer()
    return {
        "pipeline": pipeline_name,
        "run": run_name,
        "step": step_name,
        "uri": uri,
        "materializer": type(materializer).__name__,
    }


# --- "Getting artifact and model metadata" ----------------------------------------------
@step
def my_metadata_step() -> Annotated[float, "accuracy"]:
    client = Client()
    # Directly fetch an artifact
    output = client.get_artifact_version("my_dataset", "my_version")
    return output.run_metadata["accuracy"].value


# --- ... "or the associated artifacts directly" (the active model) ----------------------
@step
def my_model_step() -> Annotated[dict, "from_model"]:
    # Get active step context
    mv = get_step_context().model_version

    # Get metadata
    print(mv.run_metadata["some_value"].value)

    # Directly fetch an artifact
    output = mv.get_artifact("my_dataset", "my_version")
    return {"some_value": mv.run_metadata["some_value"].value, "accuracy": output.run_metadata["accuracy"].value}


@pipeline(enable_cache=False, model=DEMO_MODEL)
def reference_page_pipeline():
    my_step()
    my_metadata_step()
    my_model_step()


def ensure_dataset() -> None:
    """Versions never change, so the setup pipeline runs only once per installation."""
    if not Client().list_artifact_versions(artifact="my_dataset", version="my_version").total:
        dataset_pipeline()


if __name__ == "__main__":
    ensure_dataset()
    run = reference_page_pipeline()
    print("context seen by my_step:", run.steps["my_step"].output.load())
    print("accuracy fetched inside my_metadata_step:", run.steps["my_metadata_step"].output.load())
    print("fetched through the model version:", run.steps["my_model_step"].output.load())
