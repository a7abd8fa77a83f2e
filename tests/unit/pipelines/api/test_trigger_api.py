"""POST /api/v1/pipelines/{id}/runs/, GET .../versions/ and .../run-requests/, through the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from pipelines.models import PipelineRun, RunRequest
from pipelines.services import triggers
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from pipelines.services.tokens import api_token_create, run_token_create
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


def client_for(user) -> APIClient:
    _, key = api_token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner")


@pytest.fixture
def teammate(django_user_model):
    return django_user_model.objects.create_user("teammate")


@pytest.fixture
def words(owner):
    return pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)


def test_a_teammate_starts_a_run_with_new_parameters_and_gets_201_with_the_run(teammate, words):
    response = client_for(teammate).post(
        f"/api/v1/pipelines/{words.pipeline_id}/runs/",
        {"parameters": {"word": "yo"}, "enable_cache": False, "run_name": "api-run"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "api-run"
    assert body["parameters"]["word"] == "yo"
    assert body["triggered_by"] == "teammate"
    assert (body["trigger"], body["rerun_of"]) == ("api", None)
    assert {step["name"] for step in body["steps"]} == {"make_text", "shout"}


def test_the_pipeline_is_found_by_name_too(owner, words):
    response = client_for(owner).post("/api/v1/pipelines/words_pipeline/runs/", {}, format="json")
    assert response.status_code == 201
    assert response.json()["parameters"] == {"word": "hi", "times": 2, "suffix": "!", "ratio": None}


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"parameters": {"times": "3"}}, "times", "takes an integer, got a string"),
        ({"parameters": {"nope": 1}}, "nope", "has no parameter 'nope'"),
        ({"parameters": [1]}, "parameters", "dictionary"),
        ({"enable_cache": "maybe"}, "enable_cache", "valid boolean"),
        ({"run_name": "{x}"}, "run_name", "placeholders"),
        ({"version": 7}, "version", "has no version 7"),
        ({"version": "x"}, "version", "valid integer"),
        ({"version": 10**30}, "version", "less than or equal to"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(owner, words, body, field, text):
    response = client_for(owner).post(f"/api/v1/pipelines/{words.pipeline_id}/runs/", body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert text in str(errors[field])
    assert PipelineRun.objects.count() == 1


def test_a_body_that_is_not_an_object_is_a_400(owner, words):
    response = client_for(owner).post(f"/api/v1/pipelines/{words.pipeline_id}/runs/", [1, 2], format="json")
    assert response.status_code == 400


def test_a_dynamic_pipeline_answers_202_with_where_to_find_its_run(owner, monkeypatch):
    monkeypatch.setattr(triggers, "_send_compile", lambda request_id, *, queue: None)
    run = pipeline_run_create(spec=tp.loop_pipeline.compile(), user=owner)
    client = client_for(owner)

    response = client.post(f"/api/v1/pipelines/{run.pipeline_id}/runs/", {"parameters": {"n": 4}}, format="json")

    assert response.status_code == 202
    body = response.json()
    request = RunRequest.objects.get()
    assert body["status"] == "pending"
    assert body["run"] is None
    assert body["parameters"] == {"n": 4}
    assert response["Location"] == body["url"] == f"/api/v1/pipelines/{run.pipeline_id}/run-requests/?id={request.id}"
    triggers.run_request_compile(request_id=request.id)
    followed = client.get(body["url"]).json()["results"]
    assert followed[0]["status"] == "started"
    assert PipelineRun.objects.get(id=followed[0]["run"]).steps.count() == 4


def test_versions_and_the_detail_carry_the_parameter_schema(owner, words):
    client = client_for(owner)
    versions = client.get(f"/api/v1/pipelines/{words.pipeline_id}/versions/").json()["results"]
    assert [(v["number"], v["dag"], v["starts_without_code"]) for v in versions] == [(1, "static", True)]
    assert versions[0]["parameter_schema"][1] == {"name": "times", "type": "integer", "nullable": False, "default": 2}
    detail = client.get(f"/api/v1/pipelines/{words.pipeline_id}/").json()
    assert detail["latest_version"]["number"] == 1
    assert [p["name"] for p in detail["latest_version"]["parameter_schema"]] == ["word", "times", "suffix", "ratio"]


def test_a_steps_run_token_may_not_start_runs(owner, words):
    step = words.steps.get(name="make_text")
    attempt = step_run_claim(step_run_id=step.id, worker="w")
    key = run_token_create(step_run_id=step.id, attempt=attempt)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post(f"/api/v1/pipelines/{words.pipeline_id}/runs/", {}, format="json")
    assert response.status_code == 403
    assert PipelineRun.objects.count() == 1


def test_an_unknown_pipeline_or_request_is_a_404(owner, words):
    client = client_for(owner)
    assert client.post("/api/v1/pipelines/999/runs/", {}, format="json").status_code == 404
    assert client.get(f"/api/v1/pipelines/{words.pipeline_id}/run-requests/?id=42").status_code == 404
    assert client.get(f"/api/v1/pipelines/{words.pipeline_id}/run-requests/?id=x").status_code == 400


def test_the_dashboard_rerun_of_someone_elses_run_needs_change_pipelinerun(client, owner, teammate, words):
    url = f"/pipelines/{words.pipeline_id}/run/?rerun={words.id}"
    client.force_login(teammate)
    assert client.get(url).status_code == 403
    assert client.post(url, {"p_word": "x", "p_times": "1", "p_suffix": "!"}).status_code == 403
    teammate.user_permissions.add(Permission.objects.get(codename="change_pipelinerun"))
    assert client.get(url).status_code == 200
    assert PipelineRun.objects.count() == 1


def test_the_dashboard_form_shows_json_and_type_errors_by_their_fields(client, owner):
    run = pipeline_run_create(spec=tp.required_pipeline.compile(count=1), user=owner)
    client.force_login(owner)
    response = client.post(f"/pipelines/{run.pipeline_id}/run/", {"p_count": "", "p_tags": "[1,", "p_config": "{}"})
    assert response.status_code == 200
    form = response.context["form"]
    assert "p_count" in form.errors
    nul = client.post(f"/pipelines/{run.pipeline_id}/run/", {"p_count": "1", "p_tags": '["\\u0000"]', "p_config": "{}"})
    assert "NUL characters" in nul.context["form"].errors["p_tags"][0]
    assert "Not valid JSON" in form.errors["p_tags"][0]
    response = client.post(
        f"/pipelines/{run.pipeline_id}/run/", {"p_count": "5", "p_tags": '["a"]', "p_config": '{"k": 1}'}
    )
    assert response.status_code == 302
    new = PipelineRun.objects.latest("id")
    assert new.parameters == {"count": 5, "tags": ["a"], "config": {"k": 1}}
    assert response["Location"] == f"/runs/{new.id}/"


def test_the_forms_use_cache_left_ticked_keeps_a_steps_own_setting_and_unticked_turns_all_off(client, owner):
    run = pipeline_run_create(spec=tp.mixed_cache_pipeline.compile(), user=owner)
    client.force_login(owner)
    url = f"/pipelines/{run.pipeline_id}/run/"
    assert client.get(url).context["form"]["enable_cache"].value() is True

    client.post(url, {"p_n": "2", "enable_cache": "on"})
    ticked = PipelineRun.objects.latest("id")
    assert {s.name: s.spec["enable_cache"] for s in ticked.steps.all()} == {"number": True, "fresh": False}

    client.post(url, {"p_n": "2"})
    unticked = PipelineRun.objects.latest("id")
    assert {s.name: s.spec["enable_cache"] for s in unticked.steps.all()} == {"number": False, "fresh": False}


def test_the_form_page_follows_a_dynamic_run_request_to_its_run_or_its_error(client, owner, monkeypatch):
    monkeypatch.setattr(triggers, "_send_compile", lambda request_id, *, queue: None)
    run = pipeline_run_create(spec=tp.loop_pipeline.compile(), user=owner)
    client.force_login(owner)
    url = f"/pipelines/{run.pipeline_id}/run/"

    response = client.post(url, {"p_n": "3", "enable_cache": "on"})
    request = RunRequest.objects.get()
    assert response["Location"] == f"{url}?request={request.id}"
    pending = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in pending
    assert "A worker is compiling loop_pipeline" in pending

    triggers.run_request_compile(request_id=request.id)
    started = client.get(response["Location"])
    assert started["Location"] == f"/runs/{RunRequest.objects.get().run_id}/"

    client.post(url, {"p_n": "2", "enable_cache": "on"})
    failing = RunRequest.objects.latest("id")
    monkeypatch.setattr(triggers, "_import_pipeline", lambda version: (_ for _ in ()).throw(ImportError("gone")))
    triggers.run_request_compile(request_id=failing.id)
    failed = client.get(f"{url}?request={failing.id}").content.decode()
    assert "The worker could not start the run" in failed
    assert "ImportError: gone" in failed
    assert 'http-equiv="refresh"' not in failed
    assert client.get(f"{url}?request=999").status_code == 404


def test_a_rerun_starts_from_the_version_its_run_ran_not_the_newest(client, owner):
    old = pipeline_run_create(spec=tp.words_pipeline.compile(word="old"), user=owner)
    changed = tp.words_pipeline.compile()
    changed["steps"][1]["retry"] = {"max_retries": 1, "delay": 0, "backoff": 1}
    newest = pipeline_run_create(spec=changed, user=owner).pipeline_version
    client.force_login(owner)
    url = f"/pipelines/{old.pipeline_id}/run/?rerun={old.id}"

    page = client.get(url)
    assert page.context["version"] == old.pipeline_version != newest
    assert page.context["form"]["p_word"].value() == "old"
    client.post(url, {"p_word": "again", "p_times": "1", "p_suffix": "!", "rerun": str(old.id)})
    rerun = PipelineRun.objects.latest("id")
    assert (rerun.pipeline_version, rerun.rerun_of, rerun.parameters["word"]) == (old.pipeline_version, old, "again")
