"""Tags on pipelines: POST /api/v1/pipelines/{id}/tags/ (ZenML's add_tags(pipeline=...)),
who may, `?tag=` on the pipeline list and `tags` in its answers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from pipelines.models import Pipeline, PipelineRun
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from pipelines.services.tokens import api_token_create, run_token_create
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def run(owner) -> PipelineRun:
    return pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)


@pytest.fixture
def other_pipeline(teammate) -> Pipeline:
    return Pipeline.objects.create(name="other-numbers", created_by=teammate)


def client_of(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)[1]}")
    return client


def test_the_creator_adds_and_removes_pipeline_tags_and_reads_them_back(api, run):
    url = f"/api/v1/pipelines/{run.pipeline_id}/tags/"

    first = api.post(url, {"add": ["prod", "team-a", "prod"]}, format="json")
    second = api.post(url, {"add": ["v2"], "remove": ["team-a"]}, format="json")

    assert first.status_code == 200, first.content
    assert first.json() == {"tags": ["prod", "team-a"]}
    assert second.json() == {"tags": ["prod", "v2"]}
    assert Pipeline.objects.get(id=run.pipeline_id).tags == ["prod", "v2"]
    assert api.get(f"/api/v1/pipelines/{run.pipeline_id}/").json()["tags"] == ["prod", "v2"]
    by_name = api.post(f"/api/v1/pipelines/{run.pipeline.name}/tags/", {"remove": ["v2"]}, format="json")
    assert by_name.json() == {"tags": ["prod"]}


def test_the_pipeline_list_filters_by_tag(api, run, other_pipeline):
    api.post(f"/api/v1/pipelines/{run.pipeline_id}/tags/", {"add": ["prod"]}, format="json")
    Pipeline.objects.filter(id=other_pipeline.id).update(tags=["production", "dev"])

    def names(query: str) -> list[str]:
        response = api.get(f"/api/v1/pipelines/{query}")
        assert response.status_code == 200, response.content
        return [item["name"] for item in response.json()["results"]]

    assert names("?tag=prod") == [run.pipeline.name]  # exact tags: not "production"
    assert names("?tag=dev") == ["other-numbers"]
    assert names("?tag=nothing") == []
    assert names("") == sorted([run.pipeline.name, "other-numbers"])
    assert names("?tag=%22%5C") == []  # quotes, backslash: found in no tag
    nul = api.get("/api/v1/pipelines/?tag=a%00")
    assert nul.status_code == 400
    assert "'tag'" in nul.json()["detail"]


def test_an_unknown_list_parameter_is_still_a_400_naming_tag(api):
    response = api.get("/api/v1/pipelines/?tags=prod")

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "'tags'" in detail
    assert "tag" in detail.removesuffix(".").split("the valid ones are: ")[1].split(", ")


def test_who_may_tag_a_pipeline(run, owner, teammate):
    url = f"/api/v1/pipelines/{run.pipeline_id}/tags/"

    refused = client_of(teammate).post(url, {"add": ["x"]}, format="json")
    assert refused.status_code == 403
    assert "pipelines.change_pipeline" in refused.json()["detail"]

    teammate.user_permissions.add(Permission.objects.get(codename="change_pipeline"))
    teammate = type(teammate).objects.get(id=teammate.id)  # a fresh permission cache
    assert client_of(teammate).post(url, {"add": ["x"]}, format="json").status_code == 200
    assert client_of(owner).post(url, {"add": ["y"]}, format="json").json() == {"tags": ["x", "y"]}


def test_a_run_token_tags_its_runs_pipeline_only(run, other_pipeline):
    step = run.steps.get(name="load")
    key = run_token_create(step_run_id=step.id, attempt=step_run_claim(step_run_id=step.id, worker="w"))
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    own = token.post(f"/api/v1/pipelines/{run.pipeline_id}/tags/", {"add": ["from-step"]}, format="json")
    other = token.post(f"/api/v1/pipelines/{other_pipeline.id}/tags/", {"add": ["from-step"]}, format="json")

    assert own.status_code == 200, own.content
    assert other.status_code == 403
    assert "its pipeline" in other.json()["detail"]
    assert Pipeline.objects.get(id=other_pipeline.id).tags == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"add": "prod"}, "add"),
        ({"add": [""]}, "add"),
        ({"add": ["x" * 101]}, "add"),
        ({"remove": [None]}, "remove"),
        ({"add": [f"t{n}" for n in range(101)]}, "add"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, run, body, field):
    response = api.post(f"/api/v1/pipelines/{run.pipeline_id}/tags/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in str(response.json())


def test_an_unknown_pipeline_is_a_404(api):
    assert api.post("/api/v1/pipelines/999999/tags/", {"add": ["x"]}, format="json").status_code == 404
