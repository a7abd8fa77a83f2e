"""A run's detail (`GET runs/<id>/`, `stop/`, and the last answer of `wait/`) is built
from flat reads (`pipelines.api.run_detail`): it must say what
`PipelineRunDetailSerializer` says of the same run, and reading it must not cost
more for a wider run."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from pipelines import access, selectors
from pipelines.api.run_detail import run_detail_representation
from pipelines.api.serializers import PipelineRunDetailSerializer, RunProgressSerializer
from pipelines.models import PipelineRun, RunMetadata, StepRun, StepRunInput, StepRunOutput, WorkerHeartbeat
from pipelines.services.runs import pipeline_run_create, pipeline_run_stop
from tests.integration import sample_pipelines as sample
from tests.integration import wide_pipelines
from tests.unit.dashboard_data import consume, log, save_value, use_fresh_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def _as_json(data: dict) -> dict:
    return json.loads(JSONRenderer().render(data))


def _serialized(user, run_id: int) -> dict:
    return _as_json(PipelineRunDetailSerializer(selectors.runs_with_steps(user).get(id=run_id)).data)


def _worked_run(owner) -> PipelineRun:
    """A run whose steps ran: outputs, inputs, metadata on steps, versions and the run
    (some keys logged twice), a cached step and a step that failed once."""
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    load, total = run.steps.get(name="load"), run.steps.get(name="total")
    now = timezone.now()
    StepRun.objects.filter(id=load.id).update(
        status="completed", attempt=1, started_at=now, finished_at=now, cache_key="k" * 64, worker="w1"
    )
    StepRun.objects.filter(id=total.id).update(
        status="cached", attempt=2, failure_count=1, started_at=now, finished_at=now, cached_from=load.id, error="x"
    )
    numbers = save_value("numbers", [1, 2, 3], step=load, output="numbers")
    other = save_value("other", {"a": 1}, step=load, output="other")
    consume(total, numbers, name="numbers")
    consume(total, other, name="extra")
    log("step_run", load.id, rows=3, note="first")
    log("step_run", load.id, rows=4)
    log("artifact_version", numbers.id, mean=2.0)
    log("artifact_version", numbers.id, mean=2.5, unit="n")
    log("pipeline_run", run.id, note="hello")
    log("pipeline_run", run.id, note="again", size=1)
    PipelineRun.objects.filter(id=run.id).update(status="completed", finished_at=now)
    return run


def test_a_run_that_ran_is_shown_as_the_serializer_shows_it(owner):
    run = _worked_run(owner)

    answer = _as_json(run_detail_representation(owner, run.id))

    expected = _serialized(owner, run.id)
    assert answer == expected
    assert list(answer) == list(expected)  # the same keys in the same order
    for step, expected_step in zip(answer["steps"], expected["steps"], strict=True):
        assert list(step) == list(expected_step)
        for kind in ("inputs", "outputs"):
            assert list(step[kind]) == list(expected_step[kind])
            for name, version in step[kind].items():
                assert list(version) == list(expected_step[kind][name])
    assert answer["steps"][1]["inputs"]["numbers"]["run_metadata"] == [
        {"key": "mean", "value": 2.5, "type": "float"},
        {"key": "unit", "value": "n", "type": "str"},
    ]
    assert answer["run_metadata"]
    assert answer["steps"][0]["run_metadata"]


def test_a_new_run_and_a_run_of_another_user_are_shown_as_the_serializer_shows_them(owner, teammate):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)

    assert _as_json(run_detail_representation(owner, run.id)) == _serialized(owner, run.id)
    assert _as_json(run_detail_representation(teammate, run.id)) == _serialized(teammate, run.id)


def test_a_run_the_user_may_not_see_or_that_is_gone_is_none(owner, django_user_model):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    inactive = django_user_model.objects.create_user("gone", "gone@example.com", "pw-gone-12345", is_active=False)

    assert run_detail_representation(inactive, run.id) is None
    assert run_detail_representation(owner, run.id + 1000) is None


def test_the_detail_endpoint_answers_as_the_serializer_without_reading_any_spec(api, owner):
    run = _worked_run(owner)

    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"/api/v1/runs/{run.id}/")

    assert response.status_code == 200
    assert response.json() == _serialized(owner, run.id)
    # The run's and the steps' specs hold every step's definition: the answer shows neither.
    assert not [query["sql"] for query in queries if '"spec"' in query["sql"]]
    assert api.get(f"/api/v1/runs/{run.name}/").json() == response.json()


def test_the_detail_costs_the_same_statements_whatever_the_width(api, owner):
    def statements(width: int) -> int:
        run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=width), user=owner)
        pipeline_run_stop(run=run)
        api.get(f"/api/v1/runs/{run.id}/")  # the token's first use is recorded once
        with CaptureQueriesContext(connection) as queries:
            api.get(f"/api/v1/runs/{run.id}/")
        return len(queries)

    assert statements(3) == statements(60)


def test_the_answer_to_stop_is_the_runs_detail(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)

    body = api.post(f"/api/v1/runs/{run.id}/stop/").json()

    assert body["status"] == "stopped"
    assert body == _serialized(owner, run.id)


def test_the_last_wait_answer_carries_the_runs_detail(api, owner):
    run = _worked_run(owner)

    body = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": 0, "timeout": 0}).json()

    assert body["status"] == "completed"
    assert body["run"] == _serialized(owner, run.id)
    progress = _as_json(RunProgressSerializer(selectors.run_progress(owner, run_id=run.id)).data)
    assert {name: value for name, value in body.items() if name != "run"} == progress
    assert list(body) == [*progress, "run"]


def test_a_waiting_request_answers_the_progress_as_run_progress_says_it(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    WorkerHeartbeat.objects.create(
        hostname="w1", queues=["elsewhere"], started_at=timezone.now(), last_seen_at=timezone.now()
    )
    StepRun.objects.filter(pipeline_run=run, name="load").update(status="queued")

    body = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": 0, "timeout": 0}).json()

    assert body == _as_json(RunProgressSerializer(selectors.run_progress(owner, run_id=run.id)).data)
    assert body["queues_without_workers"] == [run.queue]


def test_a_waiting_request_reads_neither_the_steps_definitions_nor_their_links(api, owner):
    # Finding the run used to prefetch every step (with its spec), link and metadata
    # row at every waiting request, for answers that show none of it.
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=50), user=owner)

    with CaptureQueriesContext(connection) as queries:
        body = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": 0, "timeout": 0}).json()

    assert "run" not in body
    assert len(body["steps"]) == 51
    read = [query["sql"] for query in queries]
    assert not [sql for sql in read if '"spec"' in sql], read
    assert not [sql for sql in read if "steprunoutput" in sql or "stepruninput" in sql or "runmetadata" in sql], read


def test_a_wide_stopped_run_is_shown_as_the_serializer_shows_it(owner):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=30), user=owner)
    pipeline_run_stop(run=run)

    assert _as_json(run_detail_representation(owner, run.id)) == _serialized(owner, run.id)


def test_every_reader_still_sees_every_run_step_link_and_metadata_row(owner, teammate):
    # run_detail's statements decide access by `access.may_read` alone: right only
    # while the visible querysets they stand for show a reader every row.
    _worked_run(owner)
    for visible, model in (
        (access.runs_visible, PipelineRun),
        (access.steps_visible, StepRun),
        (access.step_inputs_visible, StepRunInput),
        (access.step_outputs_visible, StepRunOutput),
        (access.metadata_visible, RunMetadata),
    ):
        assert model.objects.exists()
        for user in (owner, teammate):
            assert set(visible(user).values_list("id", flat=True)) == set(model.objects.values_list("id", flat=True))
