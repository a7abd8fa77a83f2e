"""A waiting request (`runs/<id>/wait/`) finds its run, and reads which workers are
alive, in one plain statement (`run_detail.waited_run`), then only what its answer
shows: the steps' statuses while the run goes on, the rest of the run's detail once it
has finished. Run these on PostgreSQL too:
`DATABASE_URL=postgres://... pytest tests/unit/pipelines/api/test_wait_statements.py`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from pipelines import access, selectors
from pipelines.api.run_detail import run_detail_representation, waited_run
from pipelines.api.serializers import RunProgressSerializer
from pipelines.models import ApiToken, PipelineRun, StepRun, WorkerHeartbeat
from pipelines.services.runs import pipeline_run_create
from pipelines.services.tokens import api_token_revoke
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


def _as_json(data: dict) -> dict:
    return json.loads(JSONRenderer().render(data))


def _worker(hostname: str, queues: list[str], *, seen_ago: timedelta = timedelta(0)) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname=hostname, queues=queues, started_at=now, last_seen_at=now - seen_ago)


def _workers(run: PipelineRun) -> None:
    """Two live workers of the run's queue (one also of `gpu`), one of another queue,
    and one whose heartbeat is too old to count."""
    _worker("w1", [run.queue, "gpu"])
    _worker("w2", [run.queue])
    _worker("w3", ["elsewhere"])
    _worker("dead", [run.queue, "cpu"], seen_ago=timedelta(days=1))


def _finished(run: PipelineRun) -> PipelineRun:
    StepRun.objects.filter(pipeline_run=run).update(status="completed")
    PipelineRun.objects.filter(id=run.id).update(status="completed", revision=run.revision + 3)
    return PipelineRun.objects.get(id=run.id)


def _wait(api, key: object, **query: object) -> tuple[dict, list[str]]:
    api.get(f"/api/v1/runs/{key}/wait/", {"revision": 0, "timeout": 0})  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"/api/v1/runs/{key}/wait/", {"revision": 0, "timeout": 0, **query})
    assert response.status_code == 200, response.content
    return response.json(), [query["sql"] for query in queries]


def _progress(owner, run_id: int) -> dict:
    return _as_json(RunProgressSerializer(selectors.run_progress(owner, run_id=run_id)).data)


def test_waiting_on_a_run_that_goes_on_reads_the_token_the_run_and_its_steps(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    _workers(run)
    StepRun.objects.filter(pipeline_run=run, name="load").update(queue="gpu", status="queued")
    StepRun.objects.filter(pipeline_run=run, name="total").update(queue="cpu", status="queued")

    body, statements = _wait(api, run.id)

    # The token; the run with the live workers' queues; the steps' statuses.
    assert len(statements) == 3, statements
    assert body == _progress(owner, run.id)
    assert body["workers_alive"] == 2
    assert body["queues_without_workers"] == ["cpu"]


def test_waiting_on_a_finished_run_reads_the_live_workers_with_the_run(api, owner):
    run = _finished(pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner))
    _workers(run)

    body, statements = _wait(api, run.id)

    # The token; the run with the live workers' queues; its detail's steps, links and metadata.
    assert len(statements) == 5, statements
    assert not [sql for sql in statements[2:] if "workerheartbeat" in sql], statements
    assert {name: value for name, value in body.items() if name != "run"} == _progress(owner, run.id)
    assert body["workers_alive"] == 2
    assert body["queues_without_workers"] == []
    assert body["run"] == _as_json(run_detail_representation(owner, run.id))


def test_with_no_live_worker_the_answer_says_so(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    _worker("dead", [run.queue], seen_ago=timedelta(days=1))
    StepRun.objects.filter(pipeline_run=run, name="load").update(status="queued")

    body, _ = _wait(api, run.id)

    assert body["workers_alive"] == 0
    assert body["queues_without_workers"] == [run.queue]
    assert body == _progress(owner, run.id)


def test_a_run_is_waited_on_by_its_name_as_by_its_id(api, owner):
    run = _finished(pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner))

    by_name, _ = _wait(api, run.name)

    assert by_name == _wait(api, run.id)[0]


@pytest.mark.parametrize("key", ["999999", str(2**63), str(2**70), "no-such-run"])
def test_waiting_on_a_run_that_does_not_exist_is_a_404(api, owner, key):
    pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)

    response = api.get(f"/api/v1/runs/{key}/wait/", {"timeout": 0})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_inactive_user_cannot_wait_on_a_run(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    type(owner).objects.filter(id=owner.id).update(is_active=False)

    assert api.get(f"/api/v1/runs/{run.id}/wait/", {"timeout": 0}).status_code == 401


def test_a_run_that_finishes_while_waited_on_is_answered_with_its_detail(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    polls = []
    read = selectors.run_revision_of_visible

    def finish_at_the_first_poll(run_id: int) -> tuple[int, str] | None:
        if not polls:
            _finished(run)
        polls.append(run_id)
        return read(run_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pipelines.api.views.selectors.run_revision_of_visible", finish_at_the_first_poll)
        body = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": run.revision, "timeout": 5}).json()

    assert polls == [run.id]
    assert body["status"] == "completed"
    assert body["run"] == _as_json(run_detail_representation(owner, run.id))


def test_a_run_deleted_while_waited_on_is_a_404(api, owner):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    read = selectors.run_revision_of_visible

    def delete_at_the_first_poll(run_id: int) -> tuple[int, str] | None:
        PipelineRun.objects.filter(id=run_id).delete()
        return read(run_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pipelines.api.views.selectors.run_revision_of_visible", delete_at_the_first_poll)
        response = api.get(f"/api/v1/runs/{run.id}/wait/", {"revision": run.revision, "timeout": 5})

    assert response.status_code == 404
    assert "deleted" in response.json()["detail"]


def test_a_token_revoked_between_two_waits_is_refused_at_once(api, owner):
    # The token's read is a prepared statement on PostgreSQL after its second use in a
    # connection: that caches a plan, never an answer.
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    for _ in range(3):
        assert api.get(f"/api/v1/runs/{run.id}/wait/", {"timeout": 0}).status_code == 200

    api_token_revoke(token=ApiToken.objects.get(user=owner))

    assert api.get(f"/api/v1/runs/{run.id}/wait/", {"timeout": 0}).status_code == 401


@pytest.mark.parametrize("who", ["teammate", "anonymous", "inactive"])
def test_the_waited_run_is_read_as_the_visible_runs_decide(owner, teammate, django_user_model, who):
    # `waited_run` decides by `access.may_read` alone: right while `runs_visible`
    # shows every run to a reader and none to anyone else.
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=5), user=owner)
    reader = {
        "teammate": teammate,
        "anonymous": AnonymousUser(),
        "inactive": django_user_model.objects.create_user("gone", is_active=False),
    }[who]

    visible = access.runs_visible(reader).filter(id=run.id).exists()

    assert visible == (who == "teammate")
    assert (waited_run(reader, run_id=run.id) is not None) == visible
    assert (waited_run(reader, name=run.name) is not None) == visible
