"""Every admin page and the first dashboard pages render; history is read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipelines.models import PipelineRun
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample

pytestmark = pytest.mark.django_db

MODELS = [
    "pipeline",
    "pipelinerun",
    "steprun",
    "artifact",
    "artifactversion",
    "workerheartbeat",
    "apitoken",
    "stepattempt",
    "runmetadata",
    "mlmodel",
    "modelversion",
]


@pytest.fixture
def run(owner, no_broker) -> PipelineRun:
    return pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)


@pytest.mark.parametrize("model", MODELS)
def test_every_admin_changelist_renders(admin_client, run, model):
    response = admin_client.get(reverse(f"admin:pipelines_{model}_changelist"))

    assert response.status_code == 200


def test_runs_cannot_be_edited_or_added_in_the_admin(admin_client, run):
    response = admin_client.get(reverse("admin:pipelines_pipelinerun_change", args=[run.id]))

    assert response.status_code == 200
    assert b'name="name"' not in response.content
    assert admin_client.get(reverse("admin:pipelines_pipelinerun_add")).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(reverse("dashboard:home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_home_page_lists_runs(client, owner, run):
    client.force_login(owner)

    response = client.get(reverse("dashboard:home"))

    assert response.status_code == 200
    assert run.name.encode() in response.content


def test_the_run_page_lists_its_steps(client, owner, run):
    client.force_login(owner)

    response = client.get(reverse("dashboard:run-detail", args=[run.id]))

    assert response.status_code == 200
    assert b"load" in response.content
    assert b"total" in response.content
