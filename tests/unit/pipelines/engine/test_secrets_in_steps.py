"""Secrets from the SDK's side: the Client's secret methods (against a fake of the
/api/v1/secrets/ contract, the HTTP layer being the process boundary), a Secret that
never prints its values, and a step's reads masked in all it leaves behind (run
in-process), including its log flushed while it runs."""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any
from urllib.parse import urlparse

import pytest

from pipelines.client import Client
from pipelines.engine import heartbeat
from pipelines.engine.executor import step_run_execute
from pipelines.engine.log_capture import capture_step_output
from pipelines.models import ArtifactVersion, RunMetadata, StepAttempt, StepRun, StepStatus
from pipelines.sdk.exceptions import ServerError
from pipelines.sdk.masking import MASK, SecretMasker
from pipelines.sdk.secrets import Secret, SecretSummary
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim, step_run_flush_logs
from tests.integration import secret_pipelines as sample

CANARY = "canary-7f3a9c1e-value"


class FakeResponse:
    def __init__(self, status_code: int, body: Any = None) -> None:
        self.status_code = status_code
        self.content = b"" if body is None else json.dumps(body).encode()
        self.text = self.content.decode()

    def json(self) -> Any:
        return json.loads(self.content)


class FakeSecretsApi:
    """The /api/v1/secrets/ contract, in memory."""

    def __init__(self) -> None:
        self.secrets: dict[int, dict[str, Any]] = {}
        self.may_read_values = True
        self.requests: list[tuple[str, str, Any]] = []

    def add(self, name: str, values: dict[str, str], description: str = "") -> int:
        secret_id = len(self.secrets) + 1
        self.secrets[secret_id] = {"id": secret_id, "name": name, "description": description, "values": dict(values)}
        return secret_id

    def _item(self, secret: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": secret["id"],
            "name": secret["name"],
            "description": secret["description"],
            "keys": sorted(secret["values"]),
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": "2026-01-02T03:04:05Z",
            "created_by": "owner",
            "updated_by": "owner",
        }

    def request(self, method: str, url: str, timeout: float, params: Any = None, json: Any = None) -> FakeResponse:
        path = urlparse(url).path.removeprefix("/api/v1/")
        self.requests.append((method, path, params or json))
        if path == "metadata/":
            return FakeResponse(201, {})
        if path == "secrets/" and method == "GET":
            found = [s for s in self.secrets.values() if "name" not in params or s["name"] == params["name"]]
            found.sort(key=lambda s: s["name"])
            start = params.get("offset", 0)
            page = found[start : start + params["limit"]]
            return FakeResponse(
                200,
                {
                    "count": len(found),
                    "next": None,
                    "previous": None,
                    "results": page and [self._item(s) for s in page],
                },
            )
        if path == "secrets/" and method == "POST":
            return FakeResponse(
                201, self._item(self.secrets[self.add(json["name"], json["values"], json.get("description", ""))])
            )
        match = re.fullmatch(r"secrets/(\d+)/(values/)?", path)
        if match is None or int(match[1]) not in self.secrets:
            return FakeResponse(404, {"detail": "Not found.", "code": "not_found"})
        secret = self.secrets[int(match[1])]
        if match[2]:
            if not self.may_read_values:
                return FakeResponse(403, {"detail": "You do not have permission.", "code": "permission_denied"})
            return FakeResponse(200, {"id": secret["id"], "name": secret["name"], "values": secret["values"]})
        if method == "PATCH":
            secret["values"].update(json.get("values", {}))
            for key in json.get("remove_keys", []):
                secret["values"].pop(key, None)
            secret["description"] = json.get("description", secret["description"])
        if method == "DELETE":
            del self.secrets[secret["id"]]
            return FakeResponse(204)
        return FakeResponse(200, self._item(secret))


@pytest.fixture
def secrets_api(monkeypatch) -> FakeSecretsApi:
    fake = FakeSecretsApi()
    monkeypatch.setattr(Client, "_http", lambda self: fake)
    return fake


@pytest.fixture
def client() -> Client:
    return Client(server_url="http://pipelines.test", api_token="pip_test")


# --- the Client ------------------------------------------------------------------------
def test_get_secret_by_name_returns_its_values(secrets_api, client):
    secrets_api.add("demo_api", {"username": "admin", "password": "hunter22"}, "the demo API")

    secret = client.get_secret("demo_api")

    assert isinstance(secret, Secret)
    assert secret.name == "demo_api"
    assert secret.description == "the demo API"
    assert secret.keys == ["password", "username"]
    assert secret.secret_values == {"username": "admin", "password": "hunter22"}
    assert secret.values is secret.secret_values
    assert secret.secret_values["password"] == "hunter22"
    assert secret.created_at is not None
    assert [(m, p) for m, p, _ in secrets_api.requests] == [("GET", "secrets/"), ("GET", "secrets/1/values/")]
    assert secrets_api.requests[0][2]["name"] == "demo_api"


def test_get_secret_by_id(secrets_api, client):
    secret_id = secrets_api.add("by_id", {"k": "value-1"})

    assert client.get_secret(secret_id).secret_values == {"k": "value-1"}


def test_a_secret_never_prints_its_values(secrets_api, client):
    secrets_api.add("demo_api", {"username": "admin-user", "password": "hunter22"})

    secret = client.get_secret("demo_api")

    for shown in (repr(secret), str(secret), f"{secret}", repr(secret.secret_values), str(secret.values)):
        assert "hunter22" not in shown
        assert "admin-user" not in shown
        assert MASK in shown
    assert "'password'" in repr(secret)


def test_an_unknown_secret_says_its_name_and_how_to_list_them(secrets_api, client):
    with pytest.raises(KeyError, match=r"No secret with name 'nope'.*list_secrets\(\)"):
        client.get_secret("nope")
    with pytest.raises(KeyError, match="No secret with id 42"):
        client.get_secret(42)


def test_a_refused_read_names_the_permission_and_who_grants_it(secrets_api, client):
    secrets_api.add("locked", {"k": "value-1"})
    secrets_api.may_read_values = False

    with pytest.raises(ServerError, match=r"secrets_app\.view_secret_values.*administrator") as refused:
        client.get_secret("locked")

    assert refused.value.status_code == 403


def test_list_secrets_returns_a_page_without_values(secrets_api, client):
    for name in ("c", "a", "b"):
        secrets_api.add(name, {"k": f"value-of-{name}"})

    page = client.list_secrets(size=2)

    assert [s.name for s in page] == ["a", "b"]
    assert page.total == 3
    assert page.total_pages == 2
    assert all(type(s) is SecretSummary for s in page)
    assert "value-of" not in repr(page)
    assert [s.name for s in client.list_secrets(name="c")] == ["c"]


def test_create_update_and_delete_a_secret(secrets_api, client):
    created = client.create_secret("db", {"user": "u1", "password": "p1-long"}, description="the db")

    assert type(created) is SecretSummary
    assert created.keys == ["password", "user"]
    assert secrets_api.requests[-1] == (
        "POST",
        "secrets/",
        {"name": "db", "values": {"user": "u1", "password": "p1-long"}, "description": "the db"},
    )

    updated = client.update_secret("db", values={"host": "h1"}, remove_keys=["user"])

    assert updated.keys == ["host", "password"]
    assert secrets_api.requests[-1] == (
        "PATCH",
        f"secrets/{created.id}/",
        {"values": {"host": "h1"}, "remove_keys": ["user"]},
    )
    assert client.get_secret("db").secret_values == {"host": "h1", "password": "p1-long"}

    client.update_secret(created.id, description="renamed")
    assert secrets_api.requests[-1] == ("PATCH", f"secrets/{created.id}/", {"description": "renamed"})

    client.delete_secret("db")
    assert secrets_api.requests[-1][:2] == ("DELETE", f"secrets/{created.id}/")
    assert client.list_secrets().total == 0


# --- the worker side -----------------------------------------------------------------------
def test_the_log_and_what_is_passed_on_to_the_worker_stream_are_masked(capsys):
    import logging

    masker = SecretMasker()
    masker.add(CANARY)
    with capture_step_output(masker) as log:
        print(f"printed {CANARY}")
        logging.getLogger("test").warning("logged %s", CANARY)
        sys.stdout.write(CANARY[:6])
        sys.stdout.write(CANARY[6:] + "\n")

    text = log.getvalue()
    assert CANARY not in text
    assert text.count(MASK) == 3
    assert f"printed {MASK}" in text
    assert f"logged {MASK}" in text
    passed_on = capsys.readouterr().out
    assert CANARY not in passed_on
    # Text is passed on to the worker's stream by whole lines, so the halves too.
    assert passed_on == f"printed {MASK}\n{MASK}\n"


def test_what_the_worker_stream_logs_of_a_steps_output_is_not_captured_twice():
    import logging

    from pipelines.engine.log_capture import _StepStream

    class EchoingStream(io.StringIO):
        """Like Celery's stdout proxy, which logs what is written to it."""

        def write(self, text: str) -> int:
            logging.getLogger("echo").warning(text.strip())
            return super().write(text)

    echoing = EchoingStream()
    stream = _StepStream(echoing)
    masker = SecretMasker()
    masker.add(CANARY)
    with capture_step_output(masker) as log:
        stream.write(f"half {CANARY[:6]}")
        stream.write(f"{CANARY[6:]} end\n")
        stream.write("no newline at the end")

        assert echoing.getvalue() == f"half {MASK} end\n"  # whole lines only, until the end
        stream.flush()
        assert echoing.getvalue() == f"half {MASK} end\nno newline at the end"  # or a flush
        stream.write(" (more)")

    assert log.getvalue() == f"half {MASK} end\nno newline at the end (more)"
    assert echoing.getvalue() == f"half {MASK} end\nno newline at the end (more)"


@pytest.mark.django_db(transaction=True)
def test_values_a_step_reads_are_masked_in_its_log_error_and_metadata(secrets_api, owner, no_broker):
    secrets_api.add("canary", {"token": CANARY})
    run = pipeline_run_create(spec=sample.canary_pipeline.compile(secret_name="canary"), user=owner)

    for step_run in run.steps.all():
        step_run_execute(step_run_id=step_run.id)

    leaky, failing = run.steps.get(name="leak_everywhere"), run.steps.get(name="fail_with_the_value")
    assert leaky.status == StepStatus.COMPLETED
    assert failing.status == StepStatus.FAILED
    stored = [leaky.logs, failing.logs, failing.error, *StepAttempt.objects.values_list("error", flat=True)]
    stored += [json.dumps([m.key, m.value]) for m in RunMetadata.objects.all()]
    assert all(CANARY not in text for text in stored)
    assert f"printed: {MASK}" in leaky.logs
    assert f"split: {MASK} end" in leaky.logs
    assert f"logged: {MASK}" in leaky.logs
    assert f"RuntimeError: handled: {MASK}" in leaky.logs
    assert f"ValueError: the token {MASK} was refused" in failing.error
    metadata = {m.key: m.value for m in RunMetadata.objects.all()}
    assert metadata["token"] == MASK
    assert metadata["nested"] == {"list": [MASK, "plain"], MASK: 1}
    assert metadata["output_token"] == MASK
    assert ArtifactVersion.objects.get(producer_step_run=leaky).tags == [MASK]
    # The explicitly targeted entry went straight to the server, masked on the way.
    posted = [body for method, path, body in secrets_api.requests if path == "metadata/"]
    assert posted == [
        {"step_run": leaky.id, "entries": [{"key": "sent_token", "value": f"prefix-{MASK}", "type": "str"}]}
    ]


@pytest.mark.django_db(transaction=True)
def test_a_value_with_a_non_ascii_letter_and_a_quote_is_masked_in_every_printed_form(secrets_api, owner, no_broker):
    # json.dumps(value, ensure_ascii=False) used to print it in clear, in the log and metadata.
    value = 'pässw"rd-7f3a'
    secrets_api.add("letters", {"token": value})
    run = pipeline_run_create(spec=sample.encoded_canary_pipeline.compile(secret_name="letters"), user=owner)

    step_run_execute(step_run_id=run.steps.get().id)

    step = run.steps.get()
    assert step.status == StepStatus.COMPLETED
    stored = [step.logs, *(json.dumps(m.value, ensure_ascii=False) for m in RunMetadata.objects.all())]
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1]}
    forms |= {ascii(value)[1:-1], repr(value.encode())[2:-1]}
    assert not [(form, text) for form in forms for text in stored if form in text]
    assert f'json, unescaped letters: {{"token": "{MASK}"}}' in step.logs
    assert RunMetadata.objects.get(key="config").value == f'{{"token": "{MASK}"}}'


@pytest.mark.django_db(transaction=True)
def test_flushing_logs_writes_only_for_the_attempt_that_owns_the_running_step(owner, no_broker):
    run = pipeline_run_create(spec=sample.token_pipeline.compile(token_file="unused", secret_name="unused"), user=owner)
    step_run = run.steps.get()
    assert not step_run_flush_logs(step_run_id=step_run.id, attempt=1, logs="queued")
    attempt = step_run_claim(step_run_id=step_run.id, worker="w")

    assert step_run_flush_logs(step_run_id=step_run.id, attempt=attempt, logs="so far")
    assert not step_run_flush_logs(step_run_id=step_run.id, attempt=attempt + 1, logs="someone else")
    assert StepRun.objects.get(id=step_run.id).logs == "so far"

    StepRun.objects.filter(id=step_run.id).update(status=StepStatus.COMPLETED, logs="final")
    assert not step_run_flush_logs(step_run_id=step_run.id, attempt=attempt, logs="late")
    assert StepRun.objects.get(id=step_run.id).logs == "final"


@pytest.mark.django_db(transaction=True)
def test_a_flushed_log_is_truncated_like_a_final_one(owner, monkeypatch, no_broker):
    monkeypatch.setattr("pipelines.services.steps.MAX_LOG_CHARS", 100)
    run = pipeline_run_create(spec=sample.token_pipeline.compile(token_file="unused", secret_name="unused"), user=owner)
    step_run = run.steps.get()
    attempt = step_run_claim(step_run_id=step_run.id, worker="w")

    step_run_flush_logs(step_run_id=step_run.id, attempt=attempt, logs="x" * 1000)

    assert "log truncated" in StepRun.objects.get(id=step_run.id).logs


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_flushes_the_masked_log_only_when_it_grew(owner, monkeypatch, no_broker):
    run = pipeline_run_create(spec=sample.token_pipeline.compile(token_file="unused", secret_name="unused"), user=owner)
    step_run = run.steps.get()
    attempt = step_run_claim(step_run_id=step_run.id, worker="w")
    flushed: list[str] = []
    monkeypatch.setattr(
        "pipelines.services.steps.step_run_flush_logs", lambda **kwargs: flushed.append(kwargs["logs"]) or True
    )
    masker = SecretMasker()
    masker.add(CANARY)

    with capture_step_output(masker) as log:
        beat = heartbeat._Beating(attempt, log)
        heartbeat._beat(step_run.id, beat, interval=0)  # nothing captured yet: a plain heartbeat
        print(f"first {CANARY}")
        heartbeat._beat(step_run.id, beat, interval=0)
        heartbeat._beat(step_run.id, beat, interval=0)  # unchanged: not written again
        print("second")
        heartbeat._beat(step_run.id, beat, interval=0)

    assert flushed == [f"first {MASK}\n", f"first {MASK}\nsecond\n"]


# --- the demo ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_demo_creates_the_examples_secret_once_and_lets_its_user_read_values(django_user_model):
    from pipelines.demo.setup import DEMO_SECRET_NAME, ensure_demo_secret
    from secrets_app.selectors import secret_by_name

    user = django_user_model.objects.create_user("demo", "", "pw-demo-123")

    assert ensure_demo_secret(user=user)
    assert not ensure_demo_secret(user=user)
    assert django_user_model.objects.get(id=user.id).has_perm("secrets_app.view_secret_values")
    assert secret_by_name(name=DEMO_SECRET_NAME).keys == ["password", "username"]


def test_a_quiet_step_heartbeats_once_per_interval_while_its_log_is_stored_as_it_grows(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr("pipelines.services.steps.step_run_heartbeat", lambda **kwargs: calls.append("beat") or True)
    monkeypatch.setattr("pipelines.services.steps.step_run_flush_logs", lambda **kwargs: calls.append("log") or True)
    clock = [100.0]
    monkeypatch.setattr(heartbeat.time, "monotonic", lambda: clock[0])

    with capture_step_output(SecretMasker()) as log:
        beat = heartbeat._Beating(1, log, last_beat=100.0)
        clock[0] = 102.0
        heartbeat._beat(7, beat, interval=10)  # quiet, 2 s after the last beat: nothing to do
        print("hello")
        heartbeat._beat(7, beat, interval=10)  # the log grew: stored (and that counts as a beat)
        clock[0] = 110.0
        heartbeat._beat(7, beat, interval=10)  # quiet, 8 s later: not yet
        clock[0] = 112.5
        heartbeat._beat(7, beat, interval=10)  # quiet, 10.5 s after the store: a beat

    assert calls == ["log", "beat"]
