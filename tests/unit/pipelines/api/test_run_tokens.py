"""Run-scoped tokens: what a step may do through the API, and only while it runs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import StepTimings, step_run_claim, step_run_complete
from pipelines.services.tokens import run_token_create
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]
ENTRY = [{"key": "k", "value": 1, "type": "int"}]


@pytest.fixture
def running(owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=step.id, worker="w")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {run_token_create(step_run_id=step.id, attempt=attempt)}")
    return run, step, attempt, client


def test_a_run_token_reads_what_the_owner_can(running, owner):
    run, _, _, client = running
    other = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)

    assert client.get(f"/api/v1/runs/{run.id}/").status_code == 200
    assert client.get(f"/api/v1/runs/{other.id}/").status_code == 200


def test_a_run_token_logs_metadata_on_its_own_run_only(running, owner):
    run, step, _, client = running
    other = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)

    assert (
        client.post("/api/v1/metadata/", {"pipeline_run": run.id, "entries": ENTRY}, format="json").status_code == 201
    )
    assert client.post("/api/v1/metadata/", {"step_run": step.id, "entries": ENTRY}, format="json").status_code == 201
    refused = client.post("/api/v1/metadata/", {"pipeline_run": other.id, "entries": ENTRY}, format="json")
    assert refused.status_code == 403
    assert "its own run" in refused.json()["detail"]


def test_a_run_token_cannot_start_or_stop_runs(running):
    run, _, _, client = running

    assert client.post("/api/v1/runs/", sample.numbers_pipeline.compile(scale=1), format="json").status_code == 403
    assert client.post(f"/api/v1/runs/{run.id}/stop/").status_code == 403


def test_a_run_token_dies_when_its_step_ends(running):
    run, step, attempt, client = running
    assert step_run_complete(
        step_run_id=step.id, attempt=attempt, inputs={}, outputs=[], timings=StepTimings(None, None), logs=""
    )

    response = client.get(f"/api/v1/runs/{run.id}/")

    assert response.status_code == 401
    assert "ended" in response.json()["detail"]


def test_a_run_started_without_a_user_gets_no_token():
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=None)

    assert run_token_create(step_run_id=run.steps.first().id, attempt=1) is None
