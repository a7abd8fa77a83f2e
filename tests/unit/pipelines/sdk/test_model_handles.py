"""`Model(name, version=...)` as a handle on an existing model version (ZenML's)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from pipelines import Model, PipelineDefinitionError, save_artifact
from pipelines.enums import ModelStages
from pipelines.models import ModelStage, ModelVersion
from pipelines.sdk.client import Client
from pipelines.sdk.context import PipelineInfo, PipelineRunInfo, StepContext, StepRunInfo
from pipelines.services.model_versions import model_version_link_artifacts, model_version_resolve
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_process_client(api, monkeypatch):
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))


@pytest.fixture
def two_versions(owner):
    """Model "iris_classifier" with versions 1 and 2 ("1.0.5"), version 1 in production."""
    first = model_version_resolve(spec_model={"name": "iris_classifier"}, user=owner)
    second = model_version_resolve(spec_model={"name": "iris_classifier", "version": "1.0.5"}, user=owner)
    ModelVersion.objects.filter(id=first.id).update(stage=ModelStage.PRODUCTION)
    return first, second


def test_a_version_resolves_by_stage_number_name_or_latest(in_process_client, two_versions):
    first, second = two_versions

    assert Model(name="iris_classifier", version=ModelStages.PRODUCTION).number == 1
    assert Model(name="iris_classifier", version="production").id == first.id
    assert Model(name="iris_classifier", version=1).id == first.id
    assert Model(name="iris_classifier", version="1.0.5").number == 2
    assert Model(name="iris_classifier", version="latest").id == second.id
    assert Model(name="iris_classifier").id == second.id  # no version: the newest
    assert Model(name="iris_classifier", version="production").stage == "production"


def test_a_version_that_does_not_exist_is_a_clear_error(in_process_client, two_versions):
    with pytest.raises(KeyError, match="'iris_classifier' has no version 'staging'"):
        Model(name="iris_classifier", version=ModelStages.STAGING).number
    with pytest.raises(KeyError, match="no version '7'"):
        Model(name="iris_classifier", version=7).number


def test_the_docs_set_stage_snippet(in_process_client, two_versions, owner):
    owner.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    # ZenML's docs (model-management-metrics/.../promote-a-model), zenml -> pipelines.
    model = Model(name="iris_classifier", version="1.0.5")
    with pytest.raises(Exception, match="force=True"):
        model.set_stage(stage=ModelStages.PRODUCTION)
    model.set_stage(stage=ModelStages.PRODUCTION, force=True)

    assert model.stage == "production"
    assert Model(name="iris_classifier", version=1).stage == "archived"
    latest = Model(name="iris_classifier", version="latest")
    latest.set_stage(stage="staging", force=True)
    assert ModelVersion.objects.get(id=two_versions[1].id).stage == ModelStage.STAGING


def test_metadata_and_artifacts_through_the_handle(in_process_client, two_versions):
    first, _ = two_versions
    saved = save_artifact({"weights": [1, 2]}, name="trained_model")
    model_version_link_artifacts(model_version_id=first.id, links={saved.id: "model"})
    model = Model(name="iris_classifier", version=ModelStages.PRODUCTION)

    model.log_metadata({"accuracy": 0.9})

    assert model.run_metadata["accuracy"].value == 0.9
    assert model.get_artifact("trained_model").id == saved.id
    assert model.get_model_artifact("trained_model").id == saved.id
    assert model.load_artifact("trained_model") == {"weights": [1, 2]}
    with pytest.raises(KeyError, match="no artifact 'other'"):
        model.load_artifact("other")


def test_a_stage_still_cannot_be_a_run_s_version():
    # A run makes or reuses a concrete version; the stage is refused when compiled.
    with pytest.raises(PipelineDefinitionError, match="is a stage"):
        Model(name="churn", version="production").to_spec()


def test_the_step_context_model_is_the_model_not_its_version(in_process_client, two_versions):
    _, second = two_versions
    context = StepContext(
        pipeline=PipelineInfo(id=1, name="training"),
        pipeline_run=PipelineRunInfo(id=2, name="training-1", status="running", config={}),
        step_run=StepRunInfo(id=3, name="train", attempt=1, cache_key="k"),
        inputs={},
        outputs={},
        model_version_id=second.id,
    )

    model = context.model

    assert isinstance(model, Model)
    assert (model.name, model.version, model.number) == ("iris_classifier", "1.0.5", 2)
    # .model_version stays the version record, as before.
    assert (context.model_version.name, context.model_version.model_name) == ("1.0.5", "iris_classifier")
    model.log_metadata({"loss": 0.1})
    assert context.model.run_metadata["loss"].value == 0.1
