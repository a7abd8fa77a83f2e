"""log_metadata inside a step: where its errors send the author when a target is refused."""

from __future__ import annotations

import pytest

from pipelines import ServerError, StepContextError, log_artifact_metadata, save_artifact
from pipelines.sdk.client import Client
from pipelines.sdk.context import OutputTarget, PipelineInfo, PipelineRunInfo, StepContext, StepRunInfo, step_context
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from pipelines.services.tokens import run_token_create
from tests.integration import sample_pipelines as sample
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

SERVER = "http://pipelines.test"


def _context(*, run_id: int = 1, step_id: int = 1, credentials=None) -> StepContext:
    return StepContext(
        pipeline=PipelineInfo(1, "p"),
        pipeline_run=PipelineRunInfo(run_id, "p-1", "running", {}),
        step_run=StepRunInfo(step_id, "train", 1, ""),
        inputs={},
        outputs={"model": OutputTarget("model", "/store/model", None)},
        client_credentials=credentials,
    )


def test_naming_another_artifact_in_a_step_says_what_works_instead():
    with step_context(_context()), pytest.raises(StepContextError) as caught:
        log_artifact_metadata({"x": 1}, artifact_name="other")

    message = str(caught.value)
    assert "no output named 'other' (its outputs: model)" in message
    assert "infer_artifact=True" in message
    assert "an artifact version this run produced" in message
    assert "from outside the run" in message
    assert "pass artifact_version= too" not in message  # the old hint led to a 403


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_the_refusal_of_another_runs_artifact_in_a_step_says_what_works_instead(api, owner, monkeypatch):
    monkeypatch.setenv("PIPELINES_SERVER_URL", SERVER)
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    clients = {}

    def http(client):
        if client._token not in clients:
            clients[client._token] = api if client._token == "unused" else _bearer(client._token)
        return InProcessTransport(clients[client._token])

    monkeypatch.setattr(Client, "_http", http)
    save_artifact([1], name="other", version="v1")  # from a script: the owner's token
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = run.steps.get(name="load")
    token = run_token_create(step_run_id=step.id, attempt=step_run_claim(step_run_id=step.id, worker="w"))
    context = _context(run_id=run.id, step_id=step.id, credentials=lambda: (SERVER, token))

    with step_context(context), pytest.raises(ServerError) as caught:
        log_artifact_metadata({"x": 1}, artifact_name="other", artifact_version="v1")

    message = str(caught.value)
    assert caught.value.status_code == 403
    assert "may only log metadata on its own run" in message
    assert "from outside the run" in message


def _bearer(token: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
