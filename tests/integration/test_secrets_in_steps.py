"""Secrets read in steps on a real worker: the reference page's snippet, values
masked everywhere a step leaves traces, run tokens that die with the step, and a
step's log followed while it runs."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission

from pipelines.models import ArtifactVersion, RunMetadata, StepAttempt, StepRun, StepStatus
from pipelines.sdk.exceptions import RunFailedError
from pipelines.sdk.masking import MASK
from secrets_app.selectors import secret_reads_by_step_run
from secrets_app.services import secret_create
from tests.integration import secret_pipelines as sample
from tests.integration.conftest import start_worker, stop_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
KEEPING_SETTINGS = "tests.integration.keep_broker_messages_settings"
CANARY_QUEUE = "secrets-canary"


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="secrets_app", codename__in=codenames))


def _may_read_secret_values(user) -> None:
    _grant(user, "view_secret_values")


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out waiting for {what}.")
        time.sleep(0.05)


# --- the reference page ------------------------------------------------------------------
def test_the_reference_snippet_reads_the_secret_in_a_step_and_its_log_shows_no_value(running_worker, owner):
    from examples import secrets_in_steps as page

    _may_read_secret_values(owner)
    secret_create(name=page.SECRET_NAME, values=page.MADE_UP_VALUES, user=owner)

    run = page.secret_pipeline()

    assert run.status == "completed"
    assert run.steps["secret_loader"].output.load() == {"username": "demo-user", "authenticated": True}
    step = StepRun.objects.get(id=run.steps["secret_loader"].id)
    assert f"with password {MASK}" in step.logs
    assert page.MADE_UP_VALUES["password"] not in step.logs
    assert secret_reads_by_step_run(step.id) == [page.SECRET_NAME]


def test_the_secrets_example_runs_as_a_script_creating_its_secret(running_worker, owner):
    _grant(owner, "view_secret_values", "add_secret")

    result = subprocess.run(
        [sys.executable, "examples/secrets_in_steps.py"], cwd=REPO, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "the step authenticated: {'username': 'demo-user', 'authenticated': True}" in result.stdout


def test_without_the_permission_a_step_is_told_which_one_it_needs(running_worker, owner):
    secret_create(name="locked", values={"token": "locked-value"}, user=owner)

    with pytest.raises(RunFailedError):
        sample.token_pipeline(token_file="/dev/null", secret_name="locked")

    error = StepRun.objects.get(name="keep_the_run_token").error
    assert "secrets_app.view_secret_values" in error
    assert "locked-value" not in error


# --- run tokens ----------------------------------------------------------------------------
def test_a_run_token_reads_values_while_its_step_runs_and_is_refused_after(
    running_worker, owner, live_server, tmp_path
):
    _may_read_secret_values(owner)
    secret = secret_create(name="for-the-token", values={"token": "token-read-value"}, user=owner)
    token_file = tmp_path / "run-token"

    run = sample.token_pipeline(token_file=str(token_file), secret_name="for-the-token")

    assert run.steps["keep_the_run_token"].output.load() == ["token"]
    late = requests.get(
        f"{live_server.url}/api/v1/secrets/{secret.id}/values/",
        headers={"Authorization": f"Bearer {token_file.read_text()}"},
        timeout=10,
    )
    assert late.status_code == 401
    assert "token-read-value" not in late.text


# --- the canary ----------------------------------------------------------------------------
def _start_worker_keeping_broker_messages(log_path: Path, *, queue: str) -> subprocess.Popen:
    """The shared worker starter, with settings that keep each consumed message."""
    return start_worker(log_path, queue=queue, concurrency=2, settings_module=KEEPING_SETTINGS)


def _broker_messages(folder: Path) -> list[tuple[str, dict]]:
    """(raw text, decoded task body) of each message kept in `folder`."""
    messages = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        raw = path.read_text(errors="replace")
        envelope = json.loads(raw)
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        messages.append((raw + body, json.loads(body)))
    return messages


class BrokerMessages:
    """The messages of the run under test, as (raw text, decoded task body).

    On the filesystem broker, a worker with settings that keep every consumed message
    gives back all of them, from whichever process sent them. On a networked broker
    (Redis, RabbitMQ) the messages this test process publishes are recorded as they
    are published: the server, which runs here, sends a run's first steps."""

    def __init__(self, kept: Path | None) -> None:
        self.kept = kept
        self.kept_before = set(kept.iterdir()) if kept else set()
        self.published: list[tuple[str, list]] = []

    def record(self, body, headers=None, **kwargs) -> None:
        raw = json.dumps([body, headers], default=str)
        self.published.append((raw, json.loads(json.dumps(body, default=str))))

    def all(self) -> list[tuple[str, list]]:
        if self.kept is None:
            return list(self.published)
        return _broker_messages(self.kept)

    def new(self) -> list[tuple[str, list]]:
        if self.kept is None:
            return list(self.published)
        messages = _broker_messages(self.kept)
        paths = sorted(self.kept.iterdir())
        return [message for message, path in zip(messages, paths, strict=True) if path not in self.kept_before]


@pytest.fixture
def keeping_worker(running_worker, settings, tmp_path):
    """A worker on a queue of its own, and the broker messages sent to it."""
    from celery.signals import before_task_publish

    settings.PIPELINES = {**settings.PIPELINES, "QUEUE": CANARY_QUEUE}
    filesystem = django_settings.CELERY_BROKER_URL.startswith("filesystem://")
    if filesystem:
        process = _start_worker_keeping_broker_messages(tmp_path / "keeping-worker.log", queue=CANARY_QUEUE)
    else:
        process = start_worker(tmp_path / "canary-worker.log", queue=CANARY_QUEUE, concurrency=2)
    messages = BrokerMessages(Path(django_settings.BROKER_DIR) / "kept" if filesystem else None)
    before_task_publish.connect(messages.record, weak=False)
    process.broker_messages = messages
    yield process
    before_task_publish.disconnect(messages.record)
    stop_worker(process)


def test_a_canary_secret_read_in_steps_appears_nowhere_but_where_its_values_are_read(
    keeping_worker, owner, live_server, sdk_env
):
    canary = f"cnry-{secrets.token_hex(16)}"
    name = f"canary-{secrets.token_hex(4)}"
    _may_read_secret_values(owner)
    secret_create(name=name, values={"token": canary}, user=owner)
    broker = keeping_worker.broker_messages
    broker.kept_before = set(broker.kept.iterdir()) if broker.kept else set()

    with pytest.raises(RunFailedError) as failure:
        sample.canary_pipeline(secret_name=name)

    run = failure.value.run
    assert canary not in str(failure.value)
    leaky = StepRun.objects.get(id=run.steps["leak_everywhere"].id)
    failing = StepRun.objects.get(id=run.steps["fail_with_the_value"].id)
    assert leaky.status == StepStatus.COMPLETED
    assert failing.status == StepStatus.FAILED

    # The database: logs, errors, metadata (masked, not dropped).
    texts = {
        "leaky logs": leaky.logs,
        "failing logs": failing.logs,
        "step error": failing.error,
        **{f"attempt {a.number} error": a.error for a in StepAttempt.objects.filter(step_run__pipeline_run_id=run.id)},
        **{f"metadata {m.key}": json.dumps([m.key, m.value]) for m in RunMetadata.objects.all()},
        "tags": json.dumps(
            list(ArtifactVersion.objects.filter(producer_step_run=leaky).values_list("tags", flat=True))
        ),
    }
    assert [where for where, text in texts.items() if canary in text] == []
    assert f"printed: {MASK}" in leaky.logs
    assert f"split: {MASK} end" in leaky.logs
    assert f"RuntimeError: handled: {MASK}" in leaky.logs
    assert f"the token {MASK} was refused" in failing.error
    assert {m.key: m.value for m in RunMetadata.objects.filter(step_run=leaky)} == {
        "token": MASK,
        "nested": {"list": [MASK, "plain"], MASK: 1},
        "sent_token": f"prefix-{MASK}",
    }
    # The reads were recorded against the steps that made them.
    assert secret_reads_by_step_run(leaky.id) == [name]

    # The broker: every message this run sent carried a step run id and nothing else.
    messages = broker.all()
    new = broker.new()
    step_ids = {leaky.id, failing.id}
    ours = [body for raw, body in new if body[0] and body[0][0] in step_ids]
    assert sorted(body[0][0] for body in ours) == sorted(step_ids)
    assert all(body[0] == [body[0][0]] and body[1] == {} for body in ours)
    assert [raw for raw, _ in messages if canary in raw] == []
    broker_files = [p for p in Path(django_settings.BROKER_DIR).rglob("*") if p.is_file()]
    assert [p for p in broker_files if canary in p.read_text(errors="replace")] == []

    # The worker's own output (what the step printed and logged was passed on, masked).
    worker_log = keeping_worker.log_path.read_text(errors="replace")
    assert f"printed: {MASK}" in worker_log
    assert canary not in worker_log

    # The API: runs, steps (with their metadata) and artifact versions.
    headers = {"Authorization": f"Bearer {sdk_env}"}
    paths = [
        f"runs/{run.id}/",
        f"steps/?run={run.id}",
        f"steps/{leaky.id}/",
        f"steps/{failing.id}/",
        "artifact-versions/?artifact=report",
    ]
    answers = {path: requests.get(f"{live_server.url}/api/v1/{path}", headers=headers, timeout=10) for path in paths}
    assert {path: answer.status_code for path, answer in answers.items()} == dict.fromkeys(paths, 200)
    assert [path for path, answer in answers.items() if canary in answer.text] == []
    assert MASK in answers[f"steps/{failing.id}/"].text

    # Nor anywhere in the data folder (database, broker, artifacts): the secret's own
    # values are stored encrypted.
    data_files = [p for p in Path(django_settings.DATA_DIR).rglob("*") if p.is_file()]
    assert [p for p in data_files if canary.encode() in p.read_bytes()] == []


# --- live logs -----------------------------------------------------------------------------
def test_a_running_steps_log_is_stored_while_it_runs(running_worker, tmp_path):
    marker = tmp_path / "wake-up"
    run = sample.live_log_pipeline.with_options(wait=False)(marker_file=str(marker))
    step = run.steps["print_sleep_print"]

    def first_line_stored() -> bool:
        return "first line, before the nap" in StepRun.objects.get(id=step.id).logs

    try:
        _wait_for(first_line_stored, timeout=30, what="the first line to be stored while the step sleeps")
        during = StepRun.objects.get(id=step.id)
        assert during.status == StepStatus.RUNNING
        assert "second line" not in during.logs
    finally:
        marker.touch()
    run.wait(timeout=30)

    final = StepRun.objects.get(id=step.id).logs
    assert "first line, before the nap" in final
    assert "second line, after the nap" in final
