"""The answer to `POST /api/v1/runs/` is built by hand (`pipelines.api.submission`):
it must say what `PipelineRunDetailSerializer` says of the same run, in few statements."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from pipelines import selectors
from pipelines.api.serializers import PipelineRunDetailSerializer
from pipelines.api.submission import submitted_run_representation
from pipelines.models import PipelineRun, StepRun
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample
from tests.integration import wide_pipelines
from tests.unit.dashboard_data import consume, log, save_value, use_fresh_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def _as_json(data: dict) -> dict:
    return json.loads(JSONRenderer().render(data))


def _detail(user, run_id: int) -> dict:
    return _as_json(PipelineRunDetailSerializer(selectors.runs_with_steps(user).get(id=run_id)).data)


def test_the_answer_to_a_submission_is_the_runs_detail(api, owner):
    response = api.post("/api/v1/runs/", sample.numbers_pipeline.compile(scale=5), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body == _detail(owner, body["id"])
    assert list(body) == list(_detail(owner, body["id"]))  # the same keys in the same order
    assert [step["name"] for step in body["steps"]] == ["load", "total"]


def test_steps_a_worker_already_took_are_shown_as_the_serializer_shows_them(owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    load, total = run.steps.get(name="load"), run.steps.get(name="total")
    # As if a worker had run `load` and started `total` before the answer is read.
    now = timezone.now()
    StepRun.objects.filter(id=load.id).update(
        status="completed", attempt=1, started_at=now, finished_at=now, cache_key="k" * 64
    )
    StepRun.objects.filter(id=total.id).update(status="running", attempt=1, started_at=now)
    version = save_value("numbers", [1, 2, 3], step=load, output="numbers")
    consume(total, version, name="numbers")
    log("step_run", load.id, rows=3)
    log("pipeline_run", run.id, note="hello")
    run = PipelineRun.objects.select_related("pipeline", "triggered_by").get(id=run.id)  # its revision moved

    answer = _as_json(submitted_run_representation(owner, run))

    assert answer == _detail(owner, run.id)
    assert answer["steps"][0]["outputs"]["numbers"]["id"] == version.id
    assert answer["run_metadata"]


def test_a_step_queued_again_for_a_retry_is_read_in_full(owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    load = run.steps.get(name="load")
    StepRun.objects.filter(id=load.id).update(attempt=1, failure_count=1, error="boom")
    log("step_run", load.id, tries=1)

    answer = _as_json(submitted_run_representation(owner, run))

    assert answer == _detail(owner, run.id)
    assert answer["steps"][0]["run_metadata"]


def test_a_wide_submission_is_answered_in_a_few_statements_whatever_its_width(owner):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=200), user=owner)

    with CaptureQueriesContext(connection) as queries:
        answer = submitted_run_representation(owner, run)

    assert len(answer["steps"]) == 201
    assert len(queries) == 1, [query["sql"][:200] for query in queries]
    assert _as_json(answer) == _detail(owner, run.id)
