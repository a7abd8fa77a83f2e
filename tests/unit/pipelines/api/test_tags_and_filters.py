"""POST <object>/{id}/tags/ (ZenML's add_tags / remove_tags), the tag filters, and ZenML's
string operators on names (`?name=startswith:train`)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from pipelines.models import Artifact, ArtifactVersion, MLModel, ModelVersion, PipelineRun
from pipelines.services.model_versions import model_version_resolve
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from pipelines.services.tags import MAX_TAGS, tags_update
from pipelines.services.tokens import api_token_create, run_token_create
from tests.integration import sample_pipelines as sample
from tests.unit.dashboard_data import save_value, use_fresh_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def run(owner) -> PipelineRun:
    return pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)


@pytest.fixture
def teammate_api(teammate) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=teammate)[1]}")
    return client


def _grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def test_tags_are_added_once_and_removed_in_one_change(api, run):
    first = api.post(f"/api/v1/runs/{run.id}/tags/", {"add": ["nightly", "gpu", "nightly"]}, format="json")
    second = api.post(f"/api/v1/runs/{run.id}/tags/", {"add": ["v2"], "remove": ["gpu"]}, format="json")

    assert first.status_code == 200, first.content
    assert first.json() == {"tags": ["nightly", "gpu"]}
    assert second.json() == {"tags": ["nightly", "v2"]}
    assert PipelineRun.objects.get(id=run.id).tags == ["nightly", "v2"]


def test_every_kind_of_object_takes_tags(api, owner, run, settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    version = save_value("plot", [1], step=run.steps.get(name="load"))
    model_version = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    _grant(owner, "change_mlmodel", "change_modelversion")

    for path, target in (
        (f"artifacts/{version.artifact_id}", Artifact.objects.filter(id=version.artifact_id)),
        (f"artifact-versions/{version.id}", ArtifactVersion.objects.filter(id=version.id)),
        (f"models/{model_version.model_id}", MLModel.objects.filter(id=model_version.model_id)),
        (f"model-versions/{model_version.id}", ModelVersion.objects.filter(id=model_version.id)),
    ):
        response = api.post(f"/api/v1/{path}/tags/", {"add": ["champion"]}, format="json")
        assert response.status_code == 200, (path, response.content)
        assert target.get().tags == ["champion"], path
    assert api.get(f"/api/v1/artifacts/{version.artifact_id}/").json()["tags"] == ["champion"]
    assert api.get(f"/api/v1/model-versions/{model_version.id}/").json()["tags"] == ["champion"]


def test_the_service_reads_the_current_tags_under_the_row_lock(run):
    # Two writers that each read before the other wrote would lose one tag; the
    # service reads inside its locked transaction, so each change sees the last.
    tags_update(kind="run", target_id=run.id, add=["a"], remove=[])
    tags_update(kind="run", target_id=run.id, add=["b"], remove=[])
    assert tags_update(kind="run", target_id=run.id, add=[], remove=["a"]) == ["b"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "Give tags to add"),
        ({"add": "x"}, "add"),
        ({"add": [""]}, "add"),
        ({"add": ["x" * 101]}, "add"),
        ({"add": [1, {"a": 1}]}, "add"),
        ({"add": [f"t{n}" for n in range(MAX_TAGS + 1)]}, "add"),
    ],
)
def test_bad_tag_input_is_a_400_naming_the_field(api, run, body, words):
    response = api.post(f"/api/v1/runs/{run.id}/tags/", body, format="json")
    assert response.status_code == 400
    assert words in response.content.decode()


def test_more_than_the_limit_in_total_is_a_400(api, run):
    api.post(f"/api/v1/runs/{run.id}/tags/", {"add": [f"t{n}" for n in range(MAX_TAGS)]}, format="json")
    response = api.post(f"/api/v1/runs/{run.id}/tags/", {"add": ["one-more"]}, format="json")
    assert response.status_code == 400
    assert f"at most {MAX_TAGS} tags" in response.content.decode()


def test_who_may_tag(api, teammate_api, teammate, owner, run, settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    version = save_value("plot", [1], step=run.steps.get(name="load"))
    model_version = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    body = {"add": ["x"]}

    # A run: its owner (or change_pipelinerun); artifacts: any signed-in user; models: change_*.
    assert teammate_api.post(f"/api/v1/runs/{run.id}/tags/", body, format="json").status_code == 403
    assert api.post(f"/api/v1/runs/{run.id}/tags/", body, format="json").status_code == 200
    assert teammate_api.post(f"/api/v1/artifact-versions/{version.id}/tags/", body, format="json").status_code == 200
    assert teammate_api.post(f"/api/v1/model-versions/{model_version.id}/tags/", body, format="json").status_code == 403
    _grant(teammate, "change_pipelinerun", "change_modelversion")
    assert teammate_api.post(f"/api/v1/runs/{run.id}/tags/", body, format="json").status_code == 200
    assert teammate_api.post(f"/api/v1/model-versions/{model_version.id}/tags/", body, format="json").status_code == 200
    assert api.post("/api/v1/runs/999999/tags/", body, format="json").status_code == 404


def test_a_run_token_tags_its_own_run_and_outputs_only(owner, run, settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    step = run.steps.get(name="load")
    key = run_token_create(step_run_id=step.id, attempt=step_run_claim(step_run_id=step.id, worker="w"))
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    own = save_value("plot", [1], step=step)
    other_run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    other = save_value("plot", [2], step=other_run.steps.get(name="load"))
    model = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    body = {"add": ["x"]}

    assert token.post(f"/api/v1/runs/{run.id}/tags/", body, format="json").status_code == 200
    assert token.post(f"/api/v1/artifact-versions/{own.id}/tags/", body, format="json").status_code == 200
    assert token.post(f"/api/v1/runs/{other_run.id}/tags/", body, format="json").status_code == 403
    assert token.post(f"/api/v1/artifact-versions/{other.id}/tags/", body, format="json").status_code == 403
    assert token.post(f"/api/v1/models/{model.model_id}/tags/", body, format="json").status_code == 403


def test_lists_filter_by_tag(api, owner, run, settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    tagged = save_value("plot", [1], step=run.steps.get(name="load"))
    save_value("other", [1], step=run.steps.get(name="load"), output="second")
    first = model_version_resolve(spec_model={"name": "churn"}, user=owner)
    model_version_resolve(spec_model={"name": "iris"}, user=owner)
    for kind, target in (("artifact", tagged.artifact_id), ("model", first.model_id), ("model_version", first.id)):
        tags_update(kind=kind, target_id=target, add=["gold"], remove=[])

    assert [a["name"] for a in api.get("/api/v1/artifacts/?tag=gold").json()["results"]] == ["plot"]
    assert [m["name"] for m in api.get("/api/v1/models/?tag=gold").json()["results"]] == ["churn"]
    assert [v["id"] for v in api.get("/api/v1/model-versions/?tag=gold").json()["results"]] == [first.id]


def test_names_take_zenml_s_string_operators(api, owner):
    for name in ("train_a", "train_b", "infer_a"):
        model_version_resolve(spec_model={"name": name}, user=owner)

    def names(query: str) -> list[str]:
        response = api.get(f"/api/v1/models/?{query}&ordering=name")
        assert response.status_code == 200, response.content
        return [model["name"] for model in response.json()["results"]]

    assert names("name=train") == ["train_a", "train_b"]  # the plain value: contains, as before
    assert names("name=startswith:train") == ["train_a", "train_b"]
    assert names("name=endswith:_a") == ["infer_a", "train_a"]
    assert names("name=contains:n_") == ["train_a", "train_b"]
    assert names("name=equals:train_a") == ["train_a"]
    assert names("name=notequals:train_a") == ["infer_a", "train_b"]
    assert names('name=oneof:["train_a","infer_a"]') == ["infer_a", "train_a"]
    assert names("name=in:train_b,infer_a") == ["infer_a", "train_b"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("name=like:train", "Unknown operator 'like'"),
        ("name=oneof:[1", "not a JSON list"),
        ('name=oneof:[{"a":1}]', "not a JSON list"),
    ],
)
def test_a_bad_operator_is_a_400_naming_the_valid_ones(api, query, words):
    response = api.get(f"/api/v1/models/?{query}")
    assert response.status_code == 400
    body = response.content.decode()
    assert words in body
    if "operator" in words:
        assert "startswith:" in body
        assert "oneof:" in body


def test_runs_steps_and_versions_take_the_operators_too(api, owner, run, settings, tmp_path):
    use_fresh_store(settings, tmp_path)
    save_value("plot", [1], step=run.steps.get(name="load"))

    def count(path: str) -> int:
        response = api.get(f"/api/v1/{path}")
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count(f"runs/?name=startswith:{run.name[:8]}") == 1
    assert count("runs/?name=startswith:zzz") == 0
    assert count("steps/?name=equals:load") == 1
    assert count("steps/?name=oneof:load,nothing") == 1
    assert count("steps/?name=notequals:load") == run.steps.count() - 1
    assert count("artifact-versions/?version=startswith:1") == 1
    assert count("artifact-versions/?version=endswith:9") == 0
