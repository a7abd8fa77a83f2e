"""`Model(name, version=...)` as a handle on an existing model version (ZenML's)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from pipelines import Model, ServerError, save_artifact
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


def test_a_stage_is_a_run_s_version_resolved_by_the_server():
    # The server resolves the stage when the run is created (test_external_artifacts).
    assert Model(name="churn", version="production").to_spec()["version"] == "production"


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


# --- Client().create_model ... delete_model_version ------------------------------------
def _grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def test_the_client_creates_updates_and_deletes_models_and_versions(in_process_client, owner):
    _grant(owner, "add_mlmodel", "change_mlmodel", "delete_mlmodel")
    _grant(owner, "add_modelversion", "change_modelversion", "delete_modelversion")
    client = Client()

    model = client.create_model(name="iris_classifier", description="Irises", tags=["cv"])
    first = client.create_model_version(model_name_or_id="iris_classifier", name="1.0.5", description="first")
    second = client.create_model_version(model_name_or_id=model.id)
    renamed = client.update_model(model_name_or_id=model.id, name="iris", tags=["cv", "tabular"])
    promoted = client.update_model_version(
        model_name_or_id="iris", version_name_or_id="1.0.5", stage=ModelStages.PRODUCTION, name="v1"
    )

    assert (first.number, first.name, second.number, second.name) == (1, "1.0.5", 2, "2")
    assert (renamed.name, renamed.tags, renamed.description) == ("iris", ["cv", "tabular"], "Irises")
    assert (promoted.name, promoted.stage) == ("v1", "production")
    assert Model(name="iris", version="production").number == 1

    client.delete_model_version(second.id)
    assert [v.number for v in client.list_model_versions("iris").items] == [1]
    client.delete_model("iris")
    assert not ModelVersion.objects.exists()


def test_model_writes_need_django_s_model_permissions(in_process_client, owner, two_versions):
    client = Client()

    for call, permission in [
        (lambda: client.create_model(name="other"), "pipelines.add_mlmodel"),
        (lambda: client.update_model("iris_classifier", description="x"), "pipelines.change_mlmodel"),
        (lambda: client.delete_model("iris_classifier"), "pipelines.delete_mlmodel"),
        (lambda: client.create_model_version("iris_classifier"), "pipelines.add_modelversion"),
        (lambda: client.update_model_version("iris_classifier", "1.0.5", name="b"), "pipelines.change_modelversion"),
        (lambda: client.delete_model_version(two_versions[0].id), "pipelines.delete_modelversion"),
    ]:
        with pytest.raises(ServerError, match=f"403.*'{permission}'"):
            call()
    assert ModelVersion.objects.count() == 2


def test_bad_model_writes_are_400s_that_say_why(in_process_client, owner, two_versions):
    _grant(owner, "add_mlmodel", "add_modelversion", "change_modelversion")
    client = Client()

    for call, message in [
        (lambda: client.create_model(name="iris_classifier"), "exists already"),
        (lambda: client.create_model(name="no spaces"), "name"),
        (lambda: client.create_model_version("nope"), "No model 'nope'"),
        (lambda: client.create_model_version("iris_classifier", name="7"), "is a number"),
        (lambda: client.create_model_version("iris_classifier", name="production"), "is a stage name"),
        (lambda: client.create_model_version("iris_classifier", name="1.0.5"), "already"),
        (lambda: client.update_model_version("iris_classifier", "1.0.5", stage="production"), "force=True"),
    ]:
        with pytest.raises(ServerError, match=message) as caught:
            call()
        assert caught.value.status_code == 400


# --- the model card ----------------------------------------------------------------------
CARD = {
    "license": "Apache 2.0",
    "audience": "Botanists",
    "use_cases": "Sorting irises",
    "limitations": "Three species only",
    "trade_offs": "Speed over accuracy",
    "ethics": "No personal data",
}


def test_a_run_s_model_card_is_kept_on_the_model_and_shown_on_its_page(owner, no_broker):
    from pipelines import pipeline
    from pipelines.models import MLModel
    from pipelines.services.runs import pipeline_run_create
    from tests.integration import sample_pipelines as sample

    model = Model(name="iris_classifier", description="Irises", tags=["cv"], **CARD)
    numbers = pipeline(name="numbers_with_card", model=model, enable_cache=False)(sample.numbers_pipeline.entrypoint)
    pipeline_run_create(spec=numbers.compile(scale=1), user=owner)

    stored = MLModel.objects.get(name="iris_classifier")
    assert {key: getattr(stored, key) for key in CARD} == CARD
    from django.test import Client as PageClient
    from django.urls import reverse

    page = PageClient()
    page.force_login(owner)
    html = page.get(reverse("dashboard:model-detail", args=[stored.id])).content.decode()
    for label, value in [("License", "Apache 2.0"), ("Use cases", "Sorting irises"), ("Trade-offs", "Speed over")]:
        assert f"<dt>{label}</dt><dd>{value}" in html


def test_the_client_creates_and_updates_a_model_card(in_process_client, owner, api):
    from pipelines.models import MLModel

    _grant(owner, "add_mlmodel", "change_mlmodel")
    client = Client()

    client.create_model(name="iris_classifier", license="MIT", ethics="none")
    client.update_model("iris_classifier", limitations="small data")
    with pytest.raises(TypeError, match="colour"):
        client.create_model(name="other", colour="red")

    stored = MLModel.objects.get(name="iris_classifier")
    assert (stored.license, stored.ethics, stored.limitations) == ("MIT", "none", "small data")
    assert api.get("/api/v1/models/iris_classifier/").json()["limitations"] == "small data"


def test_the_client_and_the_model_name_the_same_card_fields():
    from pipelines.sdk.client import MODEL_CARD_FIELDS
    from pipelines.sdk.model import CARD_FIELDS
    from pipelines.services.model_versions import CARD_FIELDS as STORED

    assert MODEL_CARD_FIELDS == CARD_FIELDS == STORED
