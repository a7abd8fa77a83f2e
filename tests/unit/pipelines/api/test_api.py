"""The DRF API: authentication, run submission, reads and the long-poll."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from pipelines.models import ApiToken, PipelineRun
from pipelines.services.runs import pipeline_run_bump, pipeline_run_create
from pipelines.services.tokens import api_token_revoke
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


def test_requests_without_a_token_are_refused_with_401():
    response = APIClient().get("/api/v1/runs/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_wrong_or_revoked_token_is_refused_with_401(owner, owner_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer pip_wrong")
    assert client.get("/api/v1/runs/").status_code == 401

    api_token_revoke(token=ApiToken.objects.get(user=owner))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {owner_token}")
    assert client.get("/api/v1/runs/").status_code == 401


def test_tokens_are_stored_only_as_digests(owner_token):
    stored = ApiToken.objects.get()

    assert owner_token not in (stored.digest, stored.prefix)
    assert stored.digest == ApiToken.digest_of(owner_token)


def test_create_api_token_prints_a_working_token(owner):
    out = StringIO()
    call_command("create_api_token", "owner", stdout=out)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")

    assert client.get("/api/v1/runs/").status_code == 200


def test_posting_a_spec_creates_the_run_with_its_steps(api, owner):
    response = api.post("/api/v1/runs/", sample.numbers_pipeline.compile(scale=5), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["pipeline"]["name"] == "numbers_pipeline"
    assert body["status"] == "initializing"
    assert body["triggered_by"] == "owner"
    assert {s["name"]: s["status"] for s in body["steps"]} == {"load": "queued", "total": "pending"}
    assert PipelineRun.objects.get(id=body["id"]).parameters == {"scale": 5}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda spec: spec["steps"][0].update(after=["total"]), "cycle"),
        (lambda spec: spec["steps"][1]["inputs"].update(numbers={"step": "nope", "output": "x"}), "not a step"),
        (lambda spec: spec.update(steps=[]), "at least one step"),
        (lambda spec: spec["steps"][0].update(source="not a source"), "module:qualname"),
        (lambda spec: spec.update(version=99), "spec version"),
    ],
)
def test_an_invalid_spec_is_refused_with_400_and_the_reason(api, mutate, message):
    spec = sample.numbers_pipeline.compile(scale=5)
    mutate(spec)

    response = api.post("/api/v1/runs/", spec, format="json")

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert PipelineRun.objects.count() == 0


def test_a_spec_that_is_not_an_object_is_refused(api):
    response = api.post("/api/v1/runs/", [1, 2], format="json")

    assert response.status_code == 400


def test_runs_can_be_fetched_by_id_or_name(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    assert api.get(f"/api/v1/runs/{run.id}/").json()["name"] == run.name
    assert api.get(f"/api/v1/runs/{run.name}/").json()["id"] == run.id
    assert api.get("/api/v1/runs/does-not-exist/").status_code == 404


def test_listing_runs_costs_the_same_queries_for_one_run_or_many(api, owner, django_assert_max_num_queries):
    spec = sample.numbers_pipeline.compile(scale=1)
    pipeline_run_create(spec=spec, user=owner)
    with django_assert_max_num_queries(4) as one:
        api.get("/api/v1/runs/")
    for _ in range(10):
        pipeline_run_create(spec=spec, user=owner)
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = api.get("/api/v1/runs/")
    assert response.json()["count"] == 11


def test_run_detail_costs_the_same_queries_whatever_the_number_of_steps(api, owner, django_assert_max_num_queries):
    small = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    big = pipeline_run_create(spec=sample.split_pipeline.compile(values=[1]), user=owner)
    with django_assert_max_num_queries(8) as one:
        api.get(f"/api/v1/runs/{small.id}/")
    with django_assert_max_num_queries(len(one.captured_queries)):
        api.get(f"/api/v1/runs/{big.id}/")


def test_wait_answers_at_once_when_the_client_is_behind(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    pipeline_run_bump(run_id=run.id)
    started = time.monotonic()

    response = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": 0, "timeout": 5})

    assert time.monotonic() - started < 1
    assert response.status_code == 200
    assert response.json()["revision"] == run.revision + 1
    assert response.json()["workers_alive"] == 0


def test_wait_holds_the_request_until_the_timeout_when_nothing_changes(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    started = time.monotonic()

    response = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": run.revision, "timeout": 0.3})

    assert 0.3 <= time.monotonic() - started < 2
    assert response.json()["revision"] == run.revision


def test_the_openapi_schema_is_served(api):
    response = api.get("/api/schema/")

    assert response.status_code == 200
    assert b"/api/v1/runs/" in response.content


def test_the_answer_that_sees_the_run_finished_carries_the_whole_run(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    assert "run" not in api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": 0, "timeout": 0}).json()

    api.post(f"/api/v1/runs/{run.id}/stop/")
    body = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": 0, "timeout": 5}).json()

    assert body["status"] == "stopped"
    assert body["run"]["name"] == run.name
    assert {step["name"]: step["status"] for step in body["run"]["steps"]} == {"load": "stopped", "total": "stopped"}


@pytest.mark.parametrize(
    "endpoint",
    [
        "/api/v1/runs/",
        "/api/v1/steps/",
        "/api/v1/pipelines/",
        "/api/v1/artifacts/",
        "/api/v1/artifact-versions/",
        "/api/v1/models/",
        "/api/v1/model-versions/",
    ],
)
def test_every_list_endpoint_costs_the_same_queries_for_few_or_many_rows(
    api, owner, endpoint, django_assert_max_num_queries
):
    from pipelines.engine.executor import step_run_execute
    from pipelines.models import StepRun

    def add_completed_run() -> None:
        from pipelines import Model, pipeline

        with_model = pipeline(name="metadata_with_model", model=Model(name="m"))(sample.metadata_pipeline.entrypoint)
        run = pipeline_run_create(spec=with_model.with_options(enable_cache=False).compile(), user=owner)
        step_run_execute(step_run_id=StepRun.objects.get(pipeline_run=run).id)

    add_completed_run()
    with django_assert_max_num_queries(10) as few:
        api.get(endpoint)
    for _ in range(4):
        add_completed_run()
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = api.get(endpoint)
    assert response.status_code == 200


def test_the_openapi_schema_is_valid_and_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    assert "/api/v1/metadata/" in (tmp_path / "schema.yml").read_text()


def test_an_expired_token_is_refused_with_a_hint(owner):
    from datetime import timedelta

    from pipelines.services.tokens import api_token_create

    token, key = api_token_create(user=owner, expires_in=timedelta(days=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/runs/").status_code == 200

    ApiToken.objects.filter(id=token.id).update(expires_at=token.created_at)
    response = client.get("/api/v1/runs/")

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_create_api_token_can_set_an_expiry(owner):
    out = StringIO()
    call_command("create_api_token", "owner", "--expires-in-days", "7", stdout=out)

    assert ApiToken.objects.get().expires_at is not None


@pytest.mark.django_db(transaction=True)
def test_lookup_finds_a_version_by_artifact_and_version_or_the_newest(api, owner):
    from pipelines.engine.executor import step_run_execute
    from pipelines.models import StepRun

    for scale in (1, 2):
        run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=scale), user=owner)
        step_run_execute(step_run_id=StepRun.objects.get(pipeline_run=run, name="load").id)

    assert (
        api.get("/api/v1/artifact-versions/lookup/", {"artifact": "numbers", "version": "1"}).json()["version"] == "1"
    )
    assert api.get("/api/v1/artifact-versions/lookup/", {"artifact": "numbers"}).json()["version"] == "2"
    missing = api.get("/api/v1/artifact-versions/lookup/", {"artifact": "numbers", "version": "9"})
    assert missing.status_code == 404
    assert "no such ready version" in missing.json()["detail"]
