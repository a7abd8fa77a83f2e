"""/api/v1/secrets/: the contract, who may do what, and values only where asked for."""

from __future__ import annotations

import logging
import secrets as random_tokens

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import override_settings
from django.views.debug import ExceptionReporter
from rest_framework import serializers
from rest_framework.test import APIClient

from pipelines.models import StepRun, StepStatus
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from pipelines.services.tokens import api_token_create, run_token_create
from secrets_app.api.serializers import NeverEchoValues
from secrets_app.models import Secret, SecretRead
from secrets_app.services import secret_create
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

WRITE = ["add_secret", "change_secret", "delete_secret"]


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="secrets_app", codename__in=codenames))


def client_for(user) -> APIClient:
    client = APIClient()
    _, key = api_token_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def run_token_client(owner, *, ended: bool = False) -> tuple[APIClient, int]:
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=step.id, worker="w")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {run_token_create(step_run_id=step.id, attempt=attempt)}")
    if ended:
        StepRun.objects.filter(id=step.id).update(status=StepStatus.COMPLETED)
    return client, step.id


@pytest.fixture
def secret(owner) -> Secret:
    return secret_create(name="demo_api", values={"token": "t0k3n", "user": "bot"}, description="d", user=owner)


@pytest.fixture
def make_caller(db, django_user_model, owner):
    """Every kind of caller, by name: (client, step_run_id or None)."""

    def make(kind: str) -> tuple[APIClient, int | None]:
        if kind == "anonymous":
            return APIClient(), None
        if kind.startswith("run_token"):
            if kind == "run_token_owner_lacks_values":
                owner.user_permissions.clear()
            else:
                grant(owner, "view_secret_values", *WRITE)
            return run_token_client(owner, ended=kind == "run_token_ended")
        user = django_user_model.objects.create_user(
            kind, f"{kind}@example.com", "pw", is_superuser=kind == "superuser"
        )
        if kind == "reader":
            grant(user, "view_secret_values")
        if kind == "writer":
            grant(user, *WRITE)
        return client_for(user), None

    return make


# What each caller gets: list, detail, values, create, patch, put, delete.
MATRIX = {
    "anonymous": (401, 401, 401, 401, 401, 401, 401),
    "plain": (200, 200, 403, 403, 403, 403, 403),
    "reader": (200, 200, 200, 403, 403, 403, 403),
    "writer": (200, 200, 403, 201, 200, 200, 204),
    "superuser": (200, 200, 200, 201, 200, 200, 204),
    "run_token_owner_has_values": (200, 200, 200, 403, 403, 403, 403),
    "run_token_owner_lacks_values": (200, 200, 403, 403, 403, 403, 403),
    "run_token_ended": (401, 401, 401, 401, 401, 401, 401),
}


def call_every_endpoint(client: APIClient, secret: Secret) -> list:
    base = f"/api/v1/secrets/{secret.id}/"
    return [
        client.get("/api/v1/secrets/"),
        client.get(base),
        client.get(f"{base}values/"),
        client.post("/api/v1/secrets/", {"name": "new_one", "values": {"k": "v"}}, format="json"),
        client.patch(base, {"values": {"extra": "x"}}, format="json"),
        client.put(base, {"values": {"only": "y"}}, format="json"),
        client.delete(base),
    ]


@pytest.mark.parametrize("kind", MATRIX)
def test_each_caller_gets_what_its_permissions_allow(make_caller, secret, kind):
    client, _ = make_caller(kind)

    statuses = tuple(response.status_code for response in call_every_endpoint(client, secret))

    assert statuses == MATRIX[kind]


def test_a_run_token_write_is_refused_with_the_reason(make_caller, secret):
    client, _ = make_caller("run_token_owner_has_values")

    response = client.post("/api/v1/secrets/", {"name": "x", "values": {}}, format="json")

    assert response.status_code == 403
    assert "never change them" in response.json()["detail"]
    assert not Secret.objects.filter(name="x").exists()


def test_a_run_token_read_is_recorded_with_its_step_run(make_caller, secret, owner):
    client, step_run_id = make_caller("run_token_owner_has_values")

    response = client.get(f"/api/v1/secrets/{secret.id}/values/")

    assert response.json() == {"id": secret.id, "name": "demo_api", "values": {"token": "t0k3n", "user": "bot"}}
    read = SecretRead.objects.get()
    assert (read.secret, read.user, read.step_run_id, read.via) == (secret, owner, step_run_id, "api")


def test_a_personal_read_is_recorded_without_a_step_run(make_caller, secret):
    client, _ = make_caller("reader")

    client.get(f"/api/v1/secrets/{secret.id}/values/")

    read = SecretRead.objects.get()
    assert read.user.username == "reader"
    assert read.step_run_id is None


def test_refused_reads_are_not_recorded(make_caller, secret):
    client, _ = make_caller("plain")

    response = client.get(f"/api/v1/secrets/{secret.id}/values/")

    assert "Can read secret values" in response.json()["detail"]
    assert not SecretRead.objects.exists()


# --- The contract ----------------------------------------------------------------


def test_the_list_is_paginated_filtered_and_ordered(api, owner, teammate):
    for name in ["b", "a", "c"]:
        secret_create(name=name, values={"k2": "v", "k1": "v"}, description=f"about {name}", user=owner)

    page = api.get("/api/v1/secrets/", {"limit": 2}).json()
    assert page["count"] == 3
    assert page["previous"] is None
    assert "offset=2" in page["next"]
    assert [item["name"] for item in page["results"]] == ["a", "b"]
    assert page["results"][0] == {
        "id": Secret.objects.get(name="a").id,
        "name": "a",
        "description": "about a",
        "keys": ["k1", "k2"],
        "created_at": page["results"][0]["created_at"],
        "updated_at": page["results"][0]["updated_at"],
        "created_by": "owner",
        "updated_by": "owner",
    }
    assert [i["name"] for i in api.get("/api/v1/secrets/", {"ordering": "-name"}).json()["results"]] == ["c", "b", "a"]
    assert [i["name"] for i in api.get("/api/v1/secrets/", {"ordering": "-created_at"}).json()["results"]] == [
        "c",
        "a",
        "b",
    ]
    assert [i["name"] for i in api.get("/api/v1/secrets/", {"name": "b"}).json()["results"]] == ["b"]
    assert api.get("/api/v1/secrets/", {"name": "B"}).json()["count"] == 0


def test_create_answers_201_with_the_item_and_no_values(make_caller):
    client, _ = make_caller("writer")

    response = client.post(
        "/api/v1/secrets/", {"name": "db.prod", "values": {"password": "hunter2"}, "description": "x"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "description", "keys", "created_at", "updated_at", "created_by", "updated_by"}
    assert (body["name"], body["keys"], body["created_by"], body["updated_by"]) == (
        "db.prod",
        ["password"],
        "writer",
        "writer",
    )
    assert "hunter2" not in response.content.decode()
    assert Secret.objects.get(name="db.prod").decrypted_values() == {"password": "hunter2"}


def test_a_duplicate_name_is_refused_with_400(make_caller, secret):
    client, _ = make_caller("writer")

    response = client.post("/api/v1/secrets/", {"name": "demo_api", "values": {"k": "v"}}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "already exists" in response.json()["errors"]["name"][0]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "has space", "values": {}}, "name", "not a valid secret name"),
        ({"name": "ok", "values": {"port": 5432}}, "values", "must be a string, not int"),
        ({"name": "ok", "values": {"bad key": "v"}}, "values", "not a valid key"),
        ({"name": "ok", "values": "k=v"}, "values", "dictionary"),
        ({"values": {}}, "name", "required"),
    ],
)
def test_invalid_input_is_refused_with_the_reason(make_caller, body, field, message):
    client, _ = make_caller("writer")

    response = client.post("/api/v1/secrets/", body, format="json")

    assert response.status_code == 400
    assert message in response.json()["errors"][field][0]


def test_patch_merges_values_and_removes_keys_and_put_replaces(make_caller, secret):
    client, _ = make_caller("superuser")
    base = f"/api/v1/secrets/{secret.id}/"

    patched = client.patch(base, {"values": {"token": "new", "extra": "e"}, "remove_keys": ["user"]}, format="json")
    assert patched.status_code == 200
    assert patched.json()["keys"] == ["extra", "token"]
    assert patched.json()["updated_by"] == "superuser"
    assert patched.json()["created_by"] == "owner"
    assert client.get(f"{base}values/").json()["values"] == {"extra": "e", "token": "new"}

    described = client.patch(base, {"description": "changed"}, format="json").json()
    assert (described["description"], described["keys"]) == ("changed", ["extra", "token"])

    replaced = client.put(base, {"values": {"only": "o"}}, format="json")
    assert replaced.status_code == 200
    assert replaced.json()["keys"] == ["only"]
    assert replaced.json()["description"] == "changed"
    assert client.get(f"{base}values/").json()["values"] == {"only": "o"}

    assert client.put(base, {"description": "no values"}, format="json").status_code == 400
    assert client.delete(base).status_code == 204
    assert client.get(base).status_code == 404


def test_an_undecryptable_secret_answers_409_and_lists_still_work(make_caller, secret):
    client, _ = make_caller("superuser")

    with override_settings(FERNET_KEYS=[Fernet.generate_key().decode()]):
        values = client.get(f"/api/v1/secrets/{secret.id}/values/")
        patched = client.patch(f"/api/v1/secrets/{secret.id}/", {"values": {"k": "v"}}, format="json")
        listed = client.get("/api/v1/secrets/")
        detail = client.get(f"/api/v1/secrets/{secret.id}/")
        replaced = client.put(f"/api/v1/secrets/{secret.id}/", {"values": {"k": "v"}}, format="json")

    assert values.status_code == 409
    assert values.json()["code"] == "undecryptable"
    assert "'demo_api'" in values.json()["detail"]
    assert "FERNET_KEYS lacks the key" in values.json()["detail"]
    assert patched.status_code == 409
    assert listed.status_code == 200
    assert listed.json()["results"][0]["keys"] == ["token", "user"]
    assert detail.status_code == 200
    # Replacing every value needs no old one: it is how a lost key is recovered from.
    assert replaced.status_code == 200


def test_listing_secrets_costs_the_same_queries_for_one_or_many(api, django_user_model, django_assert_max_num_queries):
    secret_create(name="s0", values={"k": "v"}, user=django_user_model.objects.create_user("u0"))
    with django_assert_max_num_queries(4) as one:
        assert api.get("/api/v1/secrets/").status_code == 200
    for i in range(1, 11):
        secret_create(name=f"s{i}", values={"k": "v"}, user=django_user_model.objects.create_user(f"u{i}"))
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = api.get("/api/v1/secrets/")
    assert response.json()["count"] == 11


# --- Values never leak -----------------------------------------------------------


def test_a_canary_value_appears_only_in_values_responses(make_caller, owner, tmp_path):
    canary = f"canary-{random_tokens.token_hex(12)}"
    target = secret_create(name="canary", values={"token": canary}, user=owner)
    secret_create(name="other", values={"a": canary + "-2"}, user=owner)
    seen_in: list[str] = []

    for kind in MATRIX:
        client, _ = make_caller(kind)
        base = f"/api/v1/secrets/{target.id}/"
        responses = {
            "list": client.get("/api/v1/secrets/"),
            "list by name": client.get("/api/v1/secrets/", {"name": "canary"}),
            "detail": client.get(base),
            "values": client.get(f"{base}values/"),
            "missing": client.get("/api/v1/secrets/999999/values/"),
            "duplicate": client.post("/api/v1/secrets/", {"name": "canary", "values": {"t": canary}}, format="json"),
            "bad key": client.post(
                "/api/v1/secrets/", {"name": "fresh", "values": {"bad key": canary, "t": canary}}, format="json"
            ),
            "bad type": client.patch(base, {"values": {"t": canary, "n": 1}}, format="json"),
            "bad remove": client.patch(base, {"values": {"t": canary}, "remove_keys": ["t"]}, format="json"),
            "bad put": client.put(base, {"values": [canary]}, format="json"),
            "bad json": client.generic(
                "POST", "/api/v1/secrets/", f'{{"values": {{"t": "{canary}"', "application/json"
            ),
        }
        for what, response in responses.items():
            if canary in response.content.decode():
                seen_in.append(f"{kind}: {what}")

    call_command("spectacular", "--file", str(tmp_path / "schema.yml"))
    assert canary not in (tmp_path / "schema.yml").read_text()
    assert seen_in == ["reader: values", "superuser: values", "run_token_owner_has_values: values"]


def test_validation_errors_never_echo_a_submitted_value():
    class Echoing(NeverEchoValues):
        values = serializers.DictField()
        mode = serializers.ChoiceField(choices=["a", "b"])

    canary = f"canary-{random_tokens.token_hex(8)}"
    serializer = Echoing(data={"values": {"k": canary}, "mode": canary})

    assert not serializer.is_valid()
    assert canary not in str(serializer.errors)
    assert "****" in str(serializer.errors["mode"][0])


def test_a_crash_while_saving_keeps_values_out_of_the_error_report(make_caller, monkeypatch, caplog):
    client, _ = make_caller("superuser")
    client.raise_request_exception = False
    canary = f"canary-{random_tokens.token_hex(8)}"

    def crash(self, *args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Secret, "save", crash)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.post("/api/v1/secrets/", {"name": "x", "values": {"k": canary}}, format="json")

    assert response.status_code == 500
    record = next(r for r in caplog.records if r.name == "django.request")
    reporter = ExceptionReporter(record.request, *record.exc_info)
    assert "the database went away" in reporter.get_traceback_text()
    assert canary not in reporter.get_traceback_text()
    assert canary not in reporter.get_traceback_html()
