"""Hooks as the worker runs them (in-process): on_failure once, at the step's last
failure, with the exception when it takes one; on_success after the outputs are
saved; both inside the step's context and log; a hook that fails is logged on the
step and changes nothing. And the ready-made webhook alerter against a local server."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from pipelines import StepRetryConfig, get_step_context, pipeline, step
from pipelines.engine.executor import step_run_execute
from pipelines.hooks import webhook_alerter_failure_hook
from pipelines.models import StepRun, StepStatus
from pipelines.sdk.client import Client
from pipelines.sdk.secrets import Secret, SecretValues
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_runs_release_due_retries

pytestmark = pytest.mark.django_db(transaction=True)

CALLS: list[tuple[str, str, str]] = []


# ZenML's docs (how-to/steps-pipelines/hooks.md), `zenml` -> `pipelines`:
def on_failure(exception: BaseException):
    context = get_step_context()
    print(f"Failed step: {context.step_run.name}")
    CALLS.append(("failure", context.step_run.name, f"{type(exception).__name__}: {exception}"))


@step(on_failure=on_failure)
def my_step(some_parameter: int = 1):
    raise ValueError("My exception")


def on_success():
    CALLS.append(("success", get_step_context().step_run.name, ""))
    print("Step succeeded!")


def broken_hook():
    raise RuntimeError("the hook's own bug")


@step(on_success=on_success)
def my_successful_step() -> int:
    return 1


@step(on_success=broken_hook)
def step_with_broken_success_hook() -> int:
    return 2


@step(on_failure=broken_hook)
def step_with_broken_failure_hook() -> int:
    raise ValueError("the step's own error")


@step(on_failure=on_failure, retry=StepRetryConfig(max_retries=1, delay=0))
def flaky() -> int:
    raise ValueError("still failing")


@step(on_failure=webhook_alerter_failure_hook(secret_name="slack_webhook"))
def alerting_step() -> int:
    raise ValueError("disk full")


@pipeline(enable_cache=False)
def failing_pipeline():
    my_step()


@pipeline(enable_cache=False, on_success=on_success)
def successful_pipeline():
    my_successful_step()
    step_with_broken_success_hook()


@pipeline(enable_cache=False)
def broken_failure_hook_pipeline():
    step_with_broken_failure_hook()


@pipeline(enable_cache=False)
def flaky_pipeline():
    flaky()


@pipeline(enable_cache=False)
def alerting_pipeline():
    alerting_step()


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    yield
    CALLS.clear()


def _run(owner, broker, a_pipeline):
    run = pipeline_run_create(spec=a_pipeline.compile(), user=owner)
    while broker.sent:
        step_run_execute(step_run_id=broker.sent.pop())
    return {s.name: s for s in StepRun.objects.filter(pipeline_run=run)}


def test_the_failure_hook_gets_the_exception_and_the_step_context_in_the_steps_log(owner, broker):
    steps = _run(owner, broker, failing_pipeline)

    assert CALLS == [("failure", "my_step", "ValueError: My exception")]
    assert steps["my_step"].status == StepStatus.FAILED
    assert "Failed step: my_step" in steps["my_step"].logs
    assert "ValueError: My exception" in steps["my_step"].error


def test_the_success_hook_runs_after_the_outputs_and_a_failing_hook_changes_nothing(owner, broker):
    steps = _run(owner, broker, successful_pipeline)

    # The pipeline's on_success is the default of both steps; the step's own wins.
    assert CALLS == [("success", "my_successful_step", "")]
    assert "Step succeeded!" in steps["my_successful_step"].logs
    broken = steps["step_with_broken_success_hook"]
    assert broken.status == StepStatus.COMPLETED
    assert "on_success hook" in broken.logs
    assert "RuntimeError: the hook's own bug" in broken.logs
    assert "the step's outcome stands" in broken.logs


def test_a_failing_failure_hook_leaves_the_steps_own_error(owner, broker):
    steps = _run(owner, broker, broken_failure_hook_pipeline)

    step_run = steps["step_with_broken_failure_hook"]
    assert step_run.status == StepStatus.FAILED
    assert "ValueError: the step's own error" in step_run.error
    assert "RuntimeError: the hook's own bug" in step_run.logs


def test_the_failure_hook_runs_once_at_the_last_failure_not_per_retry(owner, broker):
    steps = _run(owner, broker, flaky_pipeline)
    assert steps["flaky"].status == StepStatus.RETRYING
    assert CALLS == []

    step_runs_release_due_retries(now=timezone.now() + timedelta(seconds=1))
    steps = {s.name: s for s in StepRun.objects.filter(pipeline_run=steps["flaky"].pipeline_run)}
    while broker.sent:
        step_run_execute(step_run_id=broker.sent.pop())

    assert StepRun.objects.get(id=steps["flaky"].id).status == StepStatus.FAILED
    assert CALLS == [("failure", "flaky", "ValueError: still failing")]


class _Webhook(BaseHTTPRequestHandler):
    received: list[tuple[str, dict, str]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, body, self.headers["Content-Type"]))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Webhook.received
    server.shutdown()
    server.server_close()


def _secret_with(monkeypatch, url):
    def get_secret(client, name_or_id):
        assert name_or_id == "slack_webhook"
        # Read as the Client does inside a step: the value joins the step's masker.
        get_step_context().secret_masker.add(url)
        return Secret(
            id=1,
            name="slack_webhook",
            description="",
            keys=["url"],
            created_at=None,
            updated_at=None,
            secret_values=SecretValues(url=url),
        )

    monkeypatch.setattr(Client, "get_secret", get_secret)


def test_the_webhook_alerter_posts_slack_json_to_the_secrets_url_and_never_logs_it(owner, broker, webhook, monkeypatch):
    server, received = webhook
    url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/token-abc"
    _secret_with(monkeypatch, url)

    steps = _run(owner, broker, alerting_pipeline)

    assert len(received) == 1
    path, body, content_type = received[0]
    assert path == "/services/T000/B000/token-abc"
    assert content_type == "application/json"
    assert set(body) == {"text"}
    assert "Step 'alerting_step' of run" in body["text"]
    assert "failed: ValueError: disk full" in body["text"]
    logs = steps["alerting_step"].logs
    assert "Posted to the webhook of secret 'slack_webhook'" in logs
    assert "token-abc" not in logs
    assert "127.0.0.1" not in logs


def test_an_unreachable_webhook_is_logged_without_its_url(owner, broker, webhook, monkeypatch):
    server, _ = webhook
    url = f"http://127.0.0.1:{server.server_port}/hook-secret-path"
    server.shutdown()
    server.server_close()
    _secret_with(monkeypatch, url)

    steps = _run(owner, broker, alerting_pipeline)

    step_run = steps["alerting_step"]
    assert step_run.status == StepStatus.FAILED
    assert "Could not reach the webhook of secret 'slack_webhook'" in step_run.logs
    assert "hook-secret-path" not in step_run.logs
    assert "hook-secret-path" not in step_run.error
