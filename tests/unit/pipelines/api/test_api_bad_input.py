"""Bad input gets a 4xx in the API's one error shape, never a 500 (issue 10).

Each test reproduces one finding of schemathesis or of a hostile tester: NUL
characters, Unicode digits, format suffixes, deep or large JSON, impossible UTC
offsets, a secret deleted under an edit, unknown query parameters, and a schema that
did not say what the API does.
"""

from __future__ import annotations

import io
import json
import json as jsonlib
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.test import APIClient

from pipelines import pipeline, step
from pipelines.api.parsers import MAX_JSON_DEPTH, JSONParser, RequestTooLarge
from pipelines.models import PipelineRun
from pipelines.sdk.exceptions import ServerError
from pipelines.sdk.spec import MAX_STEPS
from pipelines.services.runs import pipeline_run_create
from pipelines.services.tokens import api_token_create
from secrets_app import services as secret_services
from secrets_app.models import Secret
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def run(owner) -> PipelineRun:
    return pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)


@pytest.fixture
def admin_api() -> APIClient:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    _, key = api_token_create(user=admin)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"detail", "code", "errors"}
    assert body["detail"]
    assert body["code"]
    for word in words:
        assert word in body["detail"], body
    return body


# --- NUL characters: one check for paths, query strings and JSON bodies ------------------
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/runs/a%00b/",
        "/api/v1/pipelines/%00/",
        "/api/v1/runs/1/wait/?revision=%00",
        "/api/v1/runs/?name=x%00",
        "/api/v1/runs/?pipeline=%00",
        "/api/v1/artifact-versions/lookup/?artifact=a%00",
        "/api/v1/artifact-versions/?tag=%00",
        "/api/v1/secrets/?name=%00",
    ],
)
def test_a_nul_in_a_path_or_query_is_a_400_naming_where(api, run, url):
    body = assert_error(api.get(url), 400, "NUL")

    assert "path" in body["detail"] or "query parameter" in body["detail"]


def test_a_nul_in_a_query_parameter_name_is_a_400(api):
    assert_error(api.get("/api/v1/runs/?na%00me=x"), 400, "NUL")


@pytest.mark.parametrize("url", ["/api/v1/runs/", "/runs/"])
def test_a_nul_in_the_session_cookie_is_a_400_not_a_database_error(client, url):
    # PostgreSQL refused the session lookup: a 500 on every page and every API call.
    response = client.get(url, HTTP_COOKIE="sessionid=abcdefghij\x00klm")

    assert response.status_code == 400
    assert b"header 'Cookie'" in response.content


def test_a_nul_in_any_header_is_a_400(api):
    assert_error(api.get("/api/v1/runs/", HTTP_USER_AGENT="bot\x00"), 400, "header 'User-Agent'")


def test_pages_outside_the_api_refuse_a_nul_too(client, owner):
    client.force_login(owner)

    response = client.get("/runs/?q=%00")

    assert response.status_code == 400


def test_a_nul_in_a_json_body_is_a_400_naming_the_field(api, run):
    body = {"pipeline_run": run.id, "entries": [{"key": "acc\u0000", "value": 1, "type": "float"}]}

    error = assert_error(api.post("/api/v1/metadata/", body, format="json"), 400, "NUL")

    assert list(error["errors"]) == ["entries[0].key"]


def test_a_nul_in_a_json_key_or_a_run_parameter_is_a_400(api):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["parameters"] = {"na\u0000me": 1}
    assert_error(api.post("/api/v1/runs/", spec, format="json"), 400, "NUL")

    spec["parameters"] = {"name": ["fine", "not\u0000fine"]}
    error = assert_error(api.post("/api/v1/runs/", spec, format="json"), 400, "NUL")
    assert list(error["errors"]) == ["parameters.name[1]"]


def test_a_nul_in_a_secret_name_is_a_400(admin_api):
    response = admin_api.post("/api/v1/secrets/", {"name": "db\u0000", "values": {"k": "v"}}, format="json")

    assert_error(response, 400, "NUL")
    assert not Secret.objects.exists()


# --- Unicode digits ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/runs/?pipeline=%C2%B2",
        "/api/v1/steps/?run=%C2%B2",
        "/api/v1/artifact-versions/?artifact=%C2%B2",
        "/api/v1/model-versions/?model=%C2%B2",
        "/api/v1/model-versions/?version=%C2%B2",
    ],
)
def test_unicode_digits_in_a_filter_are_a_name_not_a_crash(api, url):
    response = api.get(url)

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_an_id_too_large_for_the_database_is_a_name_not_a_crash(api):
    response = api.get("/api/v1/runs/?pipeline=99999999999999999999999")

    assert response.status_code == 200


def test_a_missing_object_is_a_404_in_the_one_shape(api):
    # get_object_or_404's Http404 used to be answered without a `code`.
    body = assert_error(api.get("/api/v1/artifact-versions/999999/"), 404)

    assert body["code"] == "not_found"


# --- Format suffixes ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/runs/{run}/wait.json"),
        ("post", "/api/v1/runs/{run}/stop.json"),
        ("get", "/api/v1/artifact-versions/lookup.json?artifact=x"),
        ("post", "/api/v1/model-versions/1/stage.json"),
        ("post", "/api/v1/artifact-versions/1/finish.json"),
        ("get", "/api/v1/runs.json"),
    ],
)
def test_a_format_suffix_is_a_json_404(api, run, method, path):
    response = getattr(api, method)(path.format(run=run.id))

    assert_error(response, 404, "No API endpoint")


def test_the_format_query_parameter_still_works(api, run):
    assert api.get("/api/v1/runs/?format=json").status_code == 200
    assert api.get(f"/api/v1/runs/{run.id}/wait/?format=json&timeout=0").status_code == 200


# --- Deep and large JSON ------------------------------------------------------------------
def test_json_nested_10000_deep_is_a_400_with_a_message(api):
    deep = "[" * 10_000 + "]" * 10_000

    assert_error(api.post("/api/v1/runs/", deep, content_type="application/json"), 400, "nested deeper")


def test_json_just_past_the_stated_depth_is_a_400_naming_where(api):
    spec = sample.numbers_pipeline.compile(scale=1)
    value: object = 1
    for _ in range(MAX_JSON_DEPTH):
        value = [value]
    spec["parameters"] = {"deep": value}

    body = assert_error(api.post("/api/v1/runs/", spec, format="json"), 400, "nested deeper")

    assert "parameters.deep" in body["detail"]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_limit_is_a_json_413_saying_the_limit(api):
    response = api.post("/api/v1/runs/", {"pad": "x" * 2000}, format="json")

    assert_error(response, 413, "1,000 bytes")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_that_understates_its_length_is_cut_off_by_the_parser():
    stream = io.BytesIO(json.dumps({"pad": "x" * 2000}).encode())

    with pytest.raises(RequestTooLarge, match="1,000 bytes"):
        JSONParser().parse(stream)


@step
def one(index: int) -> int:
    return index


@pipeline(enable_cache=False)
def wide(width: int = 1):
    for index in range(width):
        one(index=index)


def spec_of(width: int) -> dict:
    """What `wide.compile(width=...)` gives, built by copying one step (compiling
    10,000 calls takes the SDK some ten seconds)."""
    spec = wide.compile(width=1)
    (first,) = spec["steps"]
    spec["steps"] = [{**first, "name": f"one_{index}", "parameters": {"index": index}} for index in range(width)]
    return spec


def test_a_spec_of_the_stated_limit_of_10000_steps_fits_the_body_limit(settings):
    assert MAX_STEPS == 10_000
    spec = spec_of(MAX_STEPS)
    body = json.dumps(spec).encode()

    # With room to spare for step names, parameters and sources longer than these.
    assert len(body) * 2 < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert JSONParser().parse(io.BytesIO(body)) == spec


# --- UTC offsets --------------------------------------------------------------------------
@pytest.mark.parametrize("offset", ["%2B16:00", "-20:00", "%2B23:59"])
def test_a_utc_offset_postgresql_refuses_is_a_400(api, offset):
    for url in ("/api/v1/runs/", "/api/v1/artifact-versions/"):
        assert_error(api.get(f"{url}?created_after=2026-01-01T00:00:00{offset}"), 400, "UTC offset")


def test_a_date_that_leaves_the_calendar_once_in_utc_is_a_400(api):
    assert_error(api.get("/api/v1/runs/?created_before=0001-01-01T00:00:00%2B05:00"), 400, "created_before")


def test_offsets_up_to_15_59_filter_by_the_right_instant(api, run):
    created = run.created_at

    def count(moment: str) -> int:
        return api.get("/api/v1/runs/", {"created_after": moment}).json()["count"]

    before = created.replace(microsecond=0).astimezone().isoformat()
    assert count(before) == 1
    later_in_utc = (created.replace(microsecond=0)).strftime("%Y-%m-%dT%H:%M:%S") + "-15:59"
    assert count(later_in_utc) == 0


# --- A secret deleted under an edit --------------------------------------------------------
def test_editing_a_secret_deleted_meanwhile_is_a_404(admin_api, owner, monkeypatch):
    secret = secret_services.secret_create(name="db", values={"password": "pw"}, user=owner)
    real_update = secret_services.secret_update

    def deleted_first(**kwargs):
        Secret.objects.filter(pk=secret.pk).delete()
        return real_update(**kwargs)

    monkeypatch.setattr(secret_services, "secret_update", deleted_first)

    response = admin_api.patch(f"/api/v1/secrets/{secret.id}/", {"values": {"password": "new"}}, format="json")

    assert_error(response, 404, "deleted")


def test_reading_the_values_of_a_secret_deleted_meanwhile_is_gone(owner):
    secret = secret_services.secret_create(name="db", values={"password": "pw"}, user=owner)
    stale = Secret.objects.get(pk=secret.pk)
    Secret.objects.filter(pk=secret.pk).delete()

    with pytest.raises(secret_services.SecretGone):
        secret_services.secret_read_values(secret=stale, user=owner, via="api")
    with pytest.raises(secret_services.SecretGone):
        secret_services.secret_update(secret=stale, description="x", user=owner)


def test_a_secret_name_with_a_trailing_newline_is_refused(owner):
    with pytest.raises(secret_services.SecretInvalid):
        secret_services.secret_create(name="db\n", values={}, user=owner)
    with pytest.raises(secret_services.SecretInvalid):
        secret_services.secret_create(name="db", values={"key\n": "v"}, user=owner)


def test_a_secret_name_must_be_a_string(admin_api):
    response = admin_api.post("/api/v1/secrets/", {"name": 0, "values": {"k": "v"}}, format="json")

    body = assert_error(response, 400)
    assert "name" in body["errors"]
    assert not Secret.objects.exists()


# --- Unknown query parameters ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "unknown", "valid"),
    [
        ("/api/v1/runs/?sort_by=asc:created", "sort_by", "created_after"),
        ("/api/v1/runs/?user_id=999999", "user_id", "pipeline"),
        ("/api/v1/steps/?pipeline_run=1", "pipeline_run", "run"),
        ("/api/v1/runs/?size=5", "size", "limit"),
        ("/api/v1/pipelines/?name=x", "name", "ordering"),
        ("/api/v1/secrets/?names=x", "names", "name"),
    ],
)
def test_an_unknown_query_parameter_is_a_400_listing_the_valid_ones(admin_api, url, unknown, valid):
    body = assert_error(admin_api.get(url), 400, repr(unknown), valid, "limit", "offset", "ordering")

    assert body["code"] == "unknown_parameter"


def test_an_unknown_ordering_field_is_a_400_listing_the_valid_ones(api):
    body = assert_error(api.get("/api/v1/runs/?ordering=-created,name"), 400, "'-created'", "created_at")

    assert list(body["errors"]) == ["ordering"]


def test_known_parameters_and_each_actions_own_stay_valid(api, run):
    assert (
        api.get("/api/v1/runs/?limit=1&offset=0&ordering=-created_at,name&format=json&status=running").status_code
        == 200
    )
    assert api.get("/api/v1/steps/?run=" + str(run.id) + "&ordering=-id&limit=5").status_code == 200
    assert api.get(f"/api/v1/runs/{run.id}/wait/?revision=0&timeout=0").status_code == 200
    assert api.get("/api/v1/artifact-versions/lookup/?artifact=nothing&version=v1").status_code == 404
    assert api.get(f"/api/v1/runs/{run.id}/").status_code == 200


class InProcessTransport:
    """The Client's transport, answered by the Django test client instead of a socket."""

    def __init__(self, api: APIClient) -> None:
        self.api = api

    def request(self, method, url, *, timeout, params=None, json=None):  # type: ignore[no-untyped-def]
        from pipelines.sdk.transport import Response, _query

        query = _query(params)
        path = urlsplit(url).path + (f"?{query}" if query else "")
        body = jsonlib.dumps(json) if json is not None else ""
        answer = self.api.generic(method, path, body, content_type="application/json")
        return Response(status_code=answer.status_code, content=answer.content, headers=dict(answer.items()))


def test_the_client_names_the_valid_filters_when_given_an_unknown_one(api, run, monkeypatch):
    from pipelines.client import Client

    client = Client(server_url="http://pipelines.test", api_token="unused")
    monkeypatch.setattr(client, "_http", lambda: InProcessTransport(api))

    assert client.list_pipeline_runs(status="initializing").total == 1
    with pytest.raises(ServerError) as caught:
        client.list_pipeline_runs(user_id=3)

    message = str(caught.value)
    assert caught.value.status_code == 400
    assert "'user_id'" in message
    assert "created_after" in message
    assert "pipeline" in message
    assert "sort_by" in message


# --- The schema ---------------------------------------------------------------------------
@pytest.fixture
def schema(api) -> dict:
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_offers_only_json_request_bodies(schema):
    media_types = {
        media_type
        for path in schema["paths"].values()
        for operation in path.values()
        for media_type in operation.get("requestBody", {}).get("content", {})
    }

    assert media_types == {"application/json"}


def test_the_schema_lists_the_error_responses_in_the_one_shape(schema):
    create_run = schema["paths"]["/api/v1/runs/"]["post"]["responses"]
    list_runs = schema["paths"]["/api/v1/runs/"]["get"]["responses"]

    assert {"400", "401", "403", "404", "409", "413", "415"} <= set(create_run)
    assert {"400", "401", "403", "404"} <= set(list_runs)
    assert "413" not in list_runs
    error = create_run["400"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][error]["required"]) == {"detail", "code"}
    values = schema["paths"]["/api/v1/secrets/{id}/values/"]["get"]["responses"]["409"]
    assert "FERNET_KEYS" in values["description"]
    assert values["content"]


def test_the_schema_says_a_secret_name_is_a_string(schema):
    create = schema["components"]["schemas"]["SecretCreate"]

    assert create["properties"]["name"]["type"] == "string"


def test_the_schema_documents_no_format_suffix_paths(schema):
    assert not [path for path in schema["paths"] if "{format}" in path or path.endswith(".json")]
