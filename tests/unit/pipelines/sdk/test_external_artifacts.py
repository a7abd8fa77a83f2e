"""ExternalArtifact and ArtifactVersion as step inputs, and runs on a model's stage."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pytest

from pipelines import (
    ExternalArtifact,
    Model,
    PipelineDefinitionError,
    get_pipeline_context,
    get_step_context,
    pipeline,
    save_artifact,
    step,
)
from pipelines.enums import ModelStages
from pipelines.models import ModelStage, ModelVersion, StepRun, StepRunInput, StepStatus
from pipelines.sdk.client import Client
from pipelines.sdk.spec import SpecError
from pipelines.services.model_versions import model_version_link_artifacts, model_version_resolve
from pipelines.services.runs import pipeline_run_create
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def in_process_client(api, monkeypatch):
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))


@step
def print_data(data: list) -> Annotated[int, "total"]:
    context = get_step_context()
    assert context.inputs["data"].producer_step == ""
    return sum(data)


@step
def add(a: int, b: int) -> Annotated[int, "sum"]:
    return a + b


@pipeline(name="printing_pipeline")
def printing_pipeline():
    # ZenML's docs ("ExternalArtifact", zenml -> pipelines): a value becomes an input artifact.
    data = ExternalArtifact(value=[1, 2, 3])
    print_data(data=data)


def _total(run) -> int:
    from pipelines.models import StepRunOutput
    from pipelines.sdk.artifact_loading import load_artifact_version
    from pipelines.storage import store_for_uri

    version = StepRunOutput.objects.get(step_run__pipeline_run=run, name="total").artifact_version
    return load_artifact_version(
        uri=version.uri,
        materializer=version.materializer,
        data_type=version.data_type,
        checksum=version.checksum,
        store=store_for_uri(version.uri),
    )


def test_an_external_value_is_saved_and_given_to_the_step(in_process_client, owner, broker):
    spec = printing_pipeline.compile()
    (external_id,) = spec["steps"][0]["external_inputs"].values()

    run = pipeline_run_create(spec=spec, user=owner)
    broker.drain()

    step_run = StepRun.objects.get(pipeline_run=run)
    assert step_run.status == StepStatus.COMPLETED, step_run.error
    assert _total(run) == 6
    link = StepRunInput.objects.get(step_run=step_run)
    assert (link.name, link.artifact_version_id) == ("data", external_id)
    assert link.artifact_version.artifact.name.startswith("external_")


def test_a_saved_version_from_the_client_is_an_input_and_its_id_keys_the_cache(in_process_client, owner, broker):
    saved = save_artifact([4, 5], name="iris_training_dataset")

    first = pipeline_run_create(spec=client_input_pipeline.compile(), user=owner)
    broker.drain()
    second = pipeline_run_create(spec=client_input_pipeline.compile(), user=owner)
    broker.drain()

    assert _total(first) == 9
    assert StepRun.objects.get(pipeline_run=second).status == StepStatus.CACHED
    assert StepRunInput.objects.get(step_run__pipeline_run=second).artifact_version_id == saved.id

    save_artifact([1], name="iris_training_dataset")  # a new version: a new key
    third = pipeline_run_create(spec=client_input_pipeline.compile(), user=owner)
    broker.drain()
    assert StepRun.objects.get(pipeline_run=third).status == StepStatus.COMPLETED
    assert _total(third) == 1


def test_an_external_artifact_by_name_version_or_id(in_process_client, owner, broker):
    saved = save_artifact(2, name="two", version="v1")

    spec = older_external.compile(saved_id=saved.id)
    assert spec["steps"][0]["external_inputs"] == {"a": saved.id, "b": saved.id}
    run = pipeline_run_create(spec=spec, user=owner)
    broker.drain()
    assert StepRun.objects.get(pipeline_run=run).status == StepStatus.COMPLETED


def test_an_external_artifact_takes_exactly_one_source():
    with pytest.raises(PipelineDefinitionError, match="exactly one of value"):
        ExternalArtifact(value=1, id=3)
    with pytest.raises(PipelineDefinitionError, match="exactly one of value"):
        ExternalArtifact()
    with pytest.raises(PipelineDefinitionError, match="needs name="):
        ExternalArtifact(id=3, version="v1")


def test_a_spec_naming_a_missing_version_is_refused_with_why(owner, no_broker):
    spec = {
        "pipeline": "p",
        "steps": [
            {
                "name": "add",
                "source": "tests.unit.pipelines.sdk.test_external_artifacts:add",
                "external_inputs": {"a": 999999},
                "parameters": {"b": 1},
                "outputs": [{"name": "sum", "type": None, "materializer": None}],
            }
        ],
    }
    with pytest.raises(SpecError, match="input 'a' names artifact version 999999, which does not exist"):
        pipeline_run_create(spec=spec, user=owner)
    for bad in ({"a": "1"}, {"a": -1}, {"a": 2**63}, {"a": True}, ["a"]):
        with pytest.raises(SpecError, match="external_inputs must map"):
            pipeline_run_create(spec={**spec, "steps": [{**spec["steps"][0], "external_inputs": bad}]}, user=owner)


def test_the_api_answers_400_for_a_missing_external_version(api):
    spec = {
        "pipeline": "p",
        "steps": [
            {
                "name": "add",
                "source": "tests.unit.pipelines.sdk.test_external_artifacts:add",
                "external_inputs": {"a": 999999},
                "parameters": {"b": 1},
            }
        ],
    }
    response = api.post("/api/v1/runs/", spec, format="json")
    assert response.status_code == 400
    assert "999999" in response.content.decode()


# --- a run on a model's stage ---------------------------------------------------------


@step
def predict(model: dict, data: list) -> Annotated[list, "predictions"]:
    return [x * model["weight"] for x in data]


@step
def load_data() -> Annotated[list, "inference_data"]:
    return [1, 2]


def test_the_docs_inference_pipeline_runs_on_the_production_version(in_process_client, owner, broker):
    trained = model_version_resolve(spec_model={"name": "iris_classifier"}, user=owner)
    model_version_resolve(spec_model={"name": "iris_classifier"}, user=owner)  # a newer one, not in production
    ModelVersion.objects.filter(id=trained.id).update(stage=ModelStage.PRODUCTION)
    weights = save_artifact({"weight": 10}, name="trained_model")
    model_version_link_artifacts(model_version_id=trained.id, links={weights.id: "model"})

    run = pipeline_run_create(spec=do_predictions.compile(), user=owner)
    broker.drain()

    assert run.model_version_id == trained.id
    assert set(StepRun.objects.filter(pipeline_run=run).values_list("status", flat=True)) == {StepStatus.COMPLETED}
    assert set(StepRun.objects.filter(pipeline_run=run).values_list("model_version_id", flat=True)) == {trained.id}


def test_a_run_on_a_stage_no_version_holds_is_refused_with_why(owner, no_broker):
    with pytest.raises(SpecError, match="'churn' does not exist"):
        pipeline_run_create(spec=inference.compile(), user=owner)
    model_version_resolve(spec_model={"name": "churn"}, user=owner)
    with pytest.raises(SpecError, match=r"no version in stage 'production'; promote one first"):
        pipeline_run_create(spec=inference.compile(), user=owner)

    assert pipeline_run_create(spec=inference_latest.compile(), user=owner).model_version.number == 1


@pipeline(name="client_input_pipeline")
def client_input_pipeline():
    # ZenML's docs ("Load artifacts into a pipeline"): an ArtifactVersion from the Client.
    data = Client().get_artifact_version("iris_training_dataset")
    print_data(data=data)


@pipeline(name="older_external")
def older_external(saved_id: int):
    add(a=ExternalArtifact(name="two", version="v1"), b=ExternalArtifact(id=saved_id))


# ZenML's docs ("Load artifacts from Model"), zenml -> pipelines.
@pipeline(
    model=Model(
        name="iris_classifier",
        # Using the production stage
        version=ModelStages.PRODUCTION,
    ),
)
def do_predictions():
    # model name and version are derived from pipeline context
    model = get_pipeline_context().model
    inference_data = load_data()
    predict(model=model.get_model_artifact("trained_model"), data=inference_data)


@pipeline(name="inference", model=Model(name="churn", version="production"))
def inference():
    load_data()


@pipeline(name="inference_latest", model=Model(name="churn", version="latest"))
def inference_latest():
    load_data()


# ZenML's docs ("ExternalArtifact"), zenml -> pipelines, as written.
@step
def print_numpy_data(data: np.ndarray) -> Annotated[int, "numpy_total"]:
    print(data)
    return int(data.sum())


@pipeline(name="numpy_printing_pipeline")
def numpy_printing_pipeline():
    # One can also pass data directly into the ExternalArtifact
    # to create a new artifact on the fly
    data = ExternalArtifact(value=np.array([0, 5]))

    print_numpy_data(data=data)


def test_the_docs_numpy_snippet(in_process_client, owner, broker):
    run = pipeline_run_create(spec=numpy_printing_pipeline.compile(), user=owner)
    broker.drain()

    step_run = StepRun.objects.get(pipeline_run=run)
    assert step_run.status == StepStatus.COMPLETED, step_run.error
    assert "[0 5]" in step_run.logs
