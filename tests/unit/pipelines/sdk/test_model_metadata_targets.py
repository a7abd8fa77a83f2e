"""log_metadata's model targets, as ZenML's: infer_model=True in a step, model_name= with
model_version=, model_version_id=."""

from __future__ import annotations

from typing import Annotated

import pytest
from rest_framework.test import APIClient

from pipelines import ArtifactConfig, Model, StepContextError, log_metadata, pipeline, step
from pipelines.models import ModelStage, ModelVersion, RunMetadata, StepRun, StepStatus
from pipelines.sdk.client import Client
from pipelines.services.model_versions import model_version_resolve
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from pipelines.services.tokens import run_token_create
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def in_process_client(api, monkeypatch):
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))


@step
def train_model() -> Annotated[dict, ArtifactConfig(name="sklearn_classifier")]:
    # ZenML's docs ("Attach metadata to a model"), zenml -> pipelines.
    accuracy, precision, recall = 0.9, 0.8, 0.7
    log_metadata(
        metadata={"evaluation_metrics": {"accuracy": accuracy, "precision": precision, "recall": recall}},
        infer_model=True,
    )
    return {"weights": [1]}


@step(model=Model(name="step_model"))
def train_own_model() -> Annotated[int, "own"]:
    log_metadata({"loss": 0.1}, infer_model=True)
    return 1


@pipeline(name="metadata_training", model=Model(name="my_model"), enable_cache=False)
def metadata_training():
    train_model()
    train_own_model()


def _latest(key: str, model_version_id: int):
    return RunMetadata.objects.filter(model_version_id=model_version_id, key=key).latest("id").value


def test_infer_model_logs_on_the_step_s_model_version(in_process_client, owner, broker):
    run = pipeline_run_create(spec=metadata_training.compile(), user=owner)
    broker.drain()

    assert set(StepRun.objects.filter(pipeline_run=run).values_list("status", flat=True)) == {StepStatus.COMPLETED}
    assert _latest("evaluation_metrics", run.model_version_id) == {"accuracy": 0.9, "precision": 0.8, "recall": 0.7}
    own = StepRun.objects.get(pipeline_run=run, name="train_own_model").model_version_id
    assert own != run.model_version_id
    assert _latest("loss", own) == 0.1


def test_a_model_version_by_name_stage_number_or_id_from_a_script(in_process_client, owner):
    first = model_version_resolve(spec_model={"name": "my_model", "version": "my_version"}, user=owner)
    second = model_version_resolve(spec_model={"name": "my_model"}, user=owner)
    ModelVersion.objects.filter(id=first.id).update(stage=ModelStage.PRODUCTION)

    # ZenML's docs, zenml -> pipelines.
    log_metadata(metadata={"accuracy": 0.95}, model_name="my_model", model_version="my_version")
    log_metadata(metadata={"stage_key": 1}, model_name="my_model", model_version="production")
    log_metadata(metadata={"number_key": 2}, model_name="my_model", model_version=2)
    log_metadata(metadata={"latest_key": 3}, model_name="my_model")
    log_metadata(metadata={"id_key": 4}, model_version_id=first.id)

    assert _latest("accuracy", first.id) == 0.95
    assert _latest("stage_key", first.id) == 1
    assert _latest("number_key", second.id) == 2
    assert _latest("latest_key", second.id) == 3
    assert _latest("id_key", first.id) == 4


def test_model_targets_given_wrong_say_what_works():
    with pytest.raises(StepContextError, match=r"infer_model=True\) works only inside a step"):
        log_metadata({"a": 1}, infer_model=True)
    with pytest.raises(ValueError, match="needs model_name"):
        log_metadata({"a": 1}, model_version="production")
    with pytest.raises(ValueError, match="one model target"):
        log_metadata({"a": 1}, model_name="m", model_version_id=3)


def test_a_run_token_logs_on_a_step_s_own_model_version_not_another(owner, no_broker):
    run = pipeline_run_create(spec=metadata_training.compile(), user=owner)
    step_run = run.steps.get(name="train_own_model")
    key = run_token_create(step_run_id=step_run.id, attempt=step_run_claim(step_run_id=step_run.id, worker="w"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    other = model_version_resolve(spec_model={"name": "unrelated"}, user=owner)
    entries = [{"key": "k", "value": 1, "type": "int"}]

    own = client.post(
        "/api/v1/metadata/", {"model_version": step_run.model_version_id, "entries": entries}, format="json"
    )
    refused = client.post("/api/v1/metadata/", {"model_version": other.id, "entries": entries}, format="json")

    assert own.status_code == 201
    assert refused.status_code == 403
