"""The Client's run says what started it: trigger, the run it re-runs, the schedule,
and the recorded pipeline version it ran (in process, against the real API)."""

from __future__ import annotations

import pytest

from pipelines.models import PipelineRun as RunRow
from pipelines.models import RunTrigger
from pipelines.sdk.client import Client
from pipelines.sdk.responses import PipelineRun
from pipelines.services.runs import pipeline_run_create
from pipelines.services.schedules import schedule_create
from pipelines.services.triggers import start_run
from tests.unit import trigger_pipelines as tp
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def client(api, monkeypatch):
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))
    return Client()


def test_a_run_from_code_has_its_version_and_no_other_origin(client, owner):
    row = pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)
    run = client.get_pipeline_run(row.id)
    assert (run.trigger, run.rerun_of, run.schedule) == ("code", None, None)
    assert run.pipeline_version == row.pipeline_version_id is not None
    (version,) = client.list_pipeline_versions("words_pipeline")
    assert version["id"] == run.pipeline_version


def test_a_triggered_rerun_and_a_scheduled_run_say_so_in_details_and_lists(client, owner):
    original = pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)
    rerun = start_run(
        pipeline_version=original.pipeline_version,
        parameters={"word": "again"},
        user=owner,
        trigger=RunTrigger.RERUN,
        rerun_of=original,
    )
    schedule = schedule_create(spec=tp.words_pipeline.compile(), user=owner, interval_seconds=60)
    scheduled = start_run(
        pipeline_version=original.pipeline_version,
        parameters={},
        user=owner,
        trigger=RunTrigger.SCHEDULE,
        schedule=schedule,
    )
    got = client.get_pipeline_run(rerun.id)
    assert (got.trigger, got.rerun_of, got.pipeline_version) == ("rerun", original.id, original.pipeline_version_id)
    listed = {run.id: run for run in client.list_pipeline_runs()}
    assert listed[rerun.id].rerun_of == original.id
    assert (listed[scheduled.id].trigger, listed[scheduled.id].schedule) == ("schedule", schedule.id)
    assert RunRow.objects.get(id=scheduled.id).pipeline_version_id == listed[scheduled.id].pipeline_version


def test_an_older_servers_answer_without_these_fields_reads_as_none():
    data = {"id": 1, "name": "r", "pipeline": {"name": "p"}, "status": "completed", "revision": 0}
    run = PipelineRun.from_api(data, None)
    assert (run.trigger, run.rerun_of, run.schedule, run.pipeline_version) == (None, None, None, None)
