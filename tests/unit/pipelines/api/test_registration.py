"""POST artifact-versions/register/ (register_artifact) and POST model-versions/{id}/artifacts/
(link_artifact_to_model), through the API and the SDK."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from pipelines import (
    ExternalArtifact,
    Model,
    StepContextError,
    link_artifact_to_model,
    pipeline,
    register_artifact,
    save_artifact,
    step,
)
from pipelines.models import ArtifactVersion, ModelVersionArtifact, StepRun, StepStatus
from pipelines.sdk.client import Client
from pipelines.services.model_versions import model_version_resolve
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from pipelines.services.tokens import run_token_create
from pipelines.storage import artifact_store
from tests.integration import sample_pipelines as sample
from tests.unit.dashboard_data import use_fresh_store
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport


def folder_in_store(root: str | None = None) -> str:
    """A fresh folder with two files inside the configured (local) artifact store."""
    folder = Path(root or artifact_store().root_uri) / "registered" / uuid.uuid4().hex / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.txt").write_text("1 2 3")
    (folder / "sub" / "config.json").write_text('{"a": 1}')
    return str(folder)


@pytest.fixture
def store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


@pytest.fixture
def in_process_client(api, monkeypatch, store):
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))


@pytest.mark.django_db
def test_a_folder_is_registered_where_it_lies_and_loads_as_a_path(in_process_client):
    folder = folder_in_store()

    # ZenML's docs ("Register existing data as a ZenML artifact"), zenml -> pipelines.
    registered = register_artifact(folder_or_file_uri=folder, name="my_folder_artifact")

    stored = ArtifactVersion.objects.get(id=registered.id)
    assert stored.uri == folder  # no copy
    assert (stored.version, stored.data_type) == ("1", "pathlib.Path")
    loaded = Client().get_artifact_version("my_folder_artifact").load()
    assert isinstance(loaded, Path)
    assert (loaded / "weights.txt").read_text() == "1 2 3"
    assert (loaded / "sub" / "config.json").read_text() == '{"a": 1}'
    assert loaded != Path(folder)


@pytest.mark.django_db
def test_a_file_is_registered_and_loads_as_a_path_to_a_copy(in_process_client):
    folder = folder_in_store()
    registered = register_artifact(f"{folder}/weights.txt", name="weights", version="v1", tags=["raw"])

    loaded = registered.load()
    assert loaded.name == "weights.txt"
    assert loaded.read_text() == "1 2 3"
    assert ArtifactVersion.objects.get(id=registered.id).tags == ["raw"]


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "store")
@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("/etc", "area for registered files"),
        ("relative/path", "area for registered files"),
        ("{root}/registered/does-not-exist", "Nothing is stored at"),
        ("{root}", "area for registered files"),
        ("{root}/registered", "area for registered files"),
        ("{root}/saved/1", "area for registered files"),
        ("{root}/registered/../saved/1", "area for registered files"),
        ("{root}/registered/a b", "area for registered files"),
    ],
)
def test_a_uri_that_cannot_be_registered_is_a_400_naming_why(api, uri, words):
    uri = uri.format(root=artifact_store().root_uri)
    response = api.post("/api/v1/artifact-versions/register/", {"uri": uri, "artifact": "x"}, format="json")
    assert response.status_code == 400
    assert words in response.content.decode()
    assert "uri" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "store")
def test_a_folder_is_registered_once_and_never_over_another_version_s_files(api):
    folder = folder_in_store()
    saved = api.post("/api/v1/artifact-versions/register/", {"uri": folder, "artifact": "a"}, format="json")
    assert saved.status_code == 201, saved.content

    for uri in (folder, f"{folder}/sub", str(Path(folder).parent)):
        again = api.post("/api/v1/artifact-versions/register/", {"uri": uri, "artifact": "b"}, format="json")
        assert again.status_code == 400, uri
        assert "overlaps the files of a version 1" in again.content.decode()
    bad_name = api.post(
        "/api/v1/artifact-versions/register/", {"uri": folder_in_store(), "artifact": "1x y"}, format="json"
    )
    assert bad_name.status_code == 400


# --- linking to a model ------------------------------------------------------------------


def _grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@pytest.mark.django_db
def test_link_artifact_to_model_outside_a_step(in_process_client, owner):
    _grant(owner, "change_modelversion")
    version = model_version_resolve(spec_model={"name": "my_model"}, user=owner)
    saved = save_artifact({"w": 1}, name="manual_artifact")

    # ZenML's docs ("Link an artifact to a model"), zenml -> pipelines.
    link_artifact_to_model(
        artifact_version=saved, model=Model(name="my_model", version=version.name), is_model_artifact=True
    )
    link_artifact_to_model(artifact_version=saved, model=Model(name="my_model"))  # again: nothing changes

    assert list(ModelVersionArtifact.objects.values_list("model_version_id", "artifact_version_id", "kind")) == [
        (version.id, saved.id, "model")
    ]
    assert Model(name="my_model").get_model_artifact("manual_artifact").id == saved.id
    with pytest.raises(StepContextError, match="without model= works only inside a step"):
        link_artifact_to_model(artifact_version=saved)


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "store")
def test_who_may_link(api, owner, teammate):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = run.steps.get(name="load")
    key = run_token_create(step_run_id=step.id, attempt=step_run_claim(step_run_id=step.id, worker="w"))
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    other = model_version_resolve(spec_model={"name": "other"}, user=owner)
    saved = api.post(
        "/api/v1/artifact-versions/register/", {"uri": folder_in_store(), "artifact": "a"}, format="json"
    ).json()
    body = {"artifact_version": saved["id"], "kind": "model"}

    assert api.post(f"/api/v1/model-versions/{other.id}/artifacts/", body, format="json").status_code == 403
    assert token.post(f"/api/v1/model-versions/{other.id}/artifacts/", body, format="json").status_code == 403
    _grant(owner, "change_modelversion")
    assert api.post(f"/api/v1/model-versions/{other.id}/artifacts/", body, format="json").status_code == 201
    missing = api.post(f"/api/v1/model-versions/{other.id}/artifacts/", {"artifact_version": 999999}, format="json")
    assert missing.status_code == 400
    assert "artifact_version" in missing.content.decode()
    too_large = api.post(f"/api/v1/model-versions/{other.id}/artifacts/", {"artifact_version": 2**64}, format="json")
    assert too_large.status_code == 400
    wrong_kind = api.post(f"/api/v1/model-versions/{other.id}/artifacts/", {**body, "kind": "weights"}, format="json")
    assert wrong_kind.status_code == 400


# --- in a step with a model ---------------------------------------------------------------


@step
def train_and_save() -> Annotated[int, "trained"]:
    # ZenML: save_artifact in a step with a model links the version to that model version.
    save_artifact({"weights": [1, 2]}, name="saved_in_step", is_model_artifact=True)
    save_artifact([1], name="saved_data_in_step")
    register_artifact(folder_in_store(), name="registered_in_step")
    return 1


@pipeline(name="saving_with_a_model", model=Model(name="saving_model"), enable_cache=False)
def saving_with_a_model():
    train_and_save()


@step
def reads_path(folder: Path) -> Annotated[str, "read"]:
    return (folder / "weights.txt").read_text()


@pipeline(name="registered_input", enable_cache=False)
def registered_input(name: str):
    reads_path(folder=ExternalArtifact(name=name))


@pytest.mark.django_db(transaction=True)
def test_saving_in_a_step_with_a_model_links_to_its_version(in_process_client, owner, broker):
    # Here the step's Client calls go in as the owner (a worker's go with the run's token,
    # which may link to its own model version: tests/integration/test_artifacts_and_models.py).
    _grant(owner, "change_modelversion")
    run = pipeline_run_create(spec=saving_with_a_model.compile(), user=owner)
    broker.drain()

    assert StepRun.objects.get(pipeline_run=run).status == StepStatus.COMPLETED
    links = dict(
        ModelVersionArtifact.objects.filter(model_version_id=run.model_version_id).values_list(
            "artifact_version__artifact__name", "kind"
        )
    )
    assert links == {
        "saved_in_step": "model",
        "saved_data_in_step": "data",
        "registered_in_step": "data",
        "trained": "data",
    }
    # The registered folder is a step's input like any artifact.
    second = pipeline_run_create(spec=registered_input.compile(name="registered_in_step"), user=owner)
    broker.drain()
    assert StepRun.objects.get(pipeline_run=second).status == StepStatus.COMPLETED
