"""/api/v1/schedules/ and the Client's schedule methods (ZenML's names), through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from pipelines.config import Schedule
from pipelines.models import Schedule as ScheduleRow
from pipelines.sdk.client import Client
from pipelines.sdk.exceptions import ServerError
from pipelines.sdk.schedules import create_schedule
from pipelines.services.tokens import api_token_create
from tests.unit import trigger_pipelines as tp
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def client(api, monkeypatch) -> Client:
    client = Client(server_url="http://pipelines.test", api_token="unused")
    monkeypatch.setattr(client, "_http", lambda: InProcessTransport(api))
    return client


def post(api, **fields):
    return api.post("/api/v1/schedules/", {"spec": tp.words_pipeline.compile(), **fields}, format="json")


def test_a_cron_schedule_is_created_and_answered_with_its_next_due_times_and_page(api):
    response = post(api, cron_expression="0 9 * * mon-fri", timezone="Europe/Paris", name="weekday-mornings")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "weekday-mornings"
    assert body["pipeline_name"] == "words_pipeline"
    assert (body["timezone"], body["active"], body["catchup"]) == ("Europe/Paris", True, False)
    assert len(body["next_due_times"]) == 3
    assert body["url"].endswith(f"/schedules/{body['id']}/")
    assert body["parameters"] == {"word": "hi", "times": 2, "suffix": "!", "ratio": None}


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"cron_expression": "every monday"}, "cron_expression", "*/5 * * * *"),
        ({}, "cron_expression", "Give a cron_expression"),
        ({"cron_expression": "* * * * *", "interval_seconds": 60}, "interval_seconds", "Give one of"),
        (
            {"interval_seconds": 60, "start_time": "2030-01-02T00:00:00Z", "end_time": "2030-01-01T00:00:00Z"},
            "end_time",
            "must be after start_time",
        ),
        ({"interval_seconds": 0}, "interval_seconds", ""),
        ({"interval_seconds": "soon"}, "interval_seconds", ""),
        ({"cron_expression": "* * * * *", "timezone": "Nowhere/Land"}, "timezone", "IANA"),
        ({"cron_expression": "* * * * *", "parameters": {"times": "many"}}, "times", ""),
        ({"cron_expression": "* * * * *", "start_time": "tomorrow"}, "start_time", ""),
        ({"cron_expression": "* * * * *", "end_time": "9999-12-31T23:59:59Z"}, "end_time", "between 1970 and 9000"),
        ({"interval_seconds": 60, "start_time": "0001-01-01T00:00:00Z"}, "start_time", "between"),
    ],
)
def test_a_schedule_that_cannot_work_is_a_400_naming_the_field(api, fields, field, says):
    response = post(api, **fields)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors
    assert says in " ".join(errors[field])
    assert not ScheduleRow.objects.exists()


@pytest.mark.parametrize("body", [[], "x", {"spec": "no"}, {"spec": {"steps": 3}, "cron_expression": "* * * * *"}])
def test_a_body_of_any_other_shape_is_a_400(api, body):
    assert api.post("/api/v1/schedules/", body, format="json").status_code == 400


def test_pausing_resuming_and_editing_through_patch(api):
    schedule_id = post(api, interval_seconds=3600).json()["id"]
    url = f"/api/v1/schedules/{schedule_id}/"
    assert api.patch(url, {"active": False}, format="json").json()["next_due_times"] == []
    body = api.patch(url, {"active": True, "cron_expression": "*/5 * * * *"}, format="json").json()
    assert (body["active"], body["cron_expression"], body["interval_seconds"]) == (True, "*/5 * * * *", None)
    assert api.patch(url, {"cron_expression": "61 * * * *"}, format="json").status_code == 400
    assert api.patch(url, {}, format="json").status_code == 400
    assert api.patch(url, {"active": True, "paused": True}, format="json").status_code == 400
    assert api.patch(url, {"interval_seconds": 60}, format="json").status_code == 200
    body = api.patch(url, {"start_time": None}, format="json").json()
    assert body["start_time"] is not None  # an interval counts from now when its start is cleared
    assert len(body["next_due_times"]) == 3


def test_another_users_schedule_is_read_but_not_changed_without_the_permission(api, teammate):
    schedule_id = post(api, interval_seconds=3600).json()["id"]
    other = APIClient()
    _, key = api_token_create(user=teammate)
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/schedules/{schedule_id}/"
    assert other.get(url).status_code == 200
    refused = other.patch(url, {"active": False}, format="json")
    assert refused.status_code == 403
    assert "pipelines.change_schedule" in refused.json()["detail"]
    assert other.delete(url).status_code == 403
    assert ScheduleRow.objects.get(id=schedule_id).paused is False


def test_a_permission_holder_pauses_anothers_schedule_but_only_its_creator_changes_what_it_runs(api, teammate):
    """Its runs start as its creator: an edit by someone else would act in the creator's name."""
    from django.contrib.auth.models import Permission

    schedule_id = post(api, interval_seconds=3600, parameters={"word": "mine"}).json()["id"]
    teammate.user_permissions.add(Permission.objects.get(codename="change_schedule"))
    other = APIClient()
    _, key = api_token_create(user=teammate)
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/schedules/{schedule_id}/"

    paused = other.patch(url, {"active": False}, format="json")
    edited = other.patch(url, {"parameters": {"word": "theirs"}}, format="json")
    retimed = other.patch(url, {"interval_seconds": 60, "active": True}, format="json")
    by_creator = api.patch(url, {"parameters": {"word": "still mine"}}, format="json")

    assert paused.status_code == 200
    assert edited.status_code == 403
    assert "its runs start as that user" in edited.json()["detail"]
    assert retimed.status_code == 403
    assert by_creator.status_code == 200
    row = ScheduleRow.objects.get(id=schedule_id)
    assert (row.paused, row.parameters["word"], row.interval_seconds) == (True, "still mine", 3600)


def test_the_list_costs_the_same_queries_for_one_schedule_or_many(api):
    post(api, interval_seconds=3600, name="one")
    with CaptureQueriesContext(connection) as one:
        assert api.get("/api/v1/schedules/").status_code == 200
    for index in range(5):
        post(api, cron_expression="0 * * * *", name=f"more-{index}")
    with CaptureQueriesContext(connection) as many:
        assert api.get("/api/v1/schedules/").json()["count"] == 6
    assert len(many) == len(one)


def test_the_docs_schedule_snippet_registers_a_schedule_and_prints_where_to_see_it(client, capsys):
    # ZenML's "Schedule a pipeline": cron, or a start time and interval.
    schedule = Schedule(cron_expression="5 14 * * 3")
    made = create_schedule(tp.words_pipeline, tp.words_pipeline.compile(word="x"), schedule, client=client)
    assert made.cron_expression == "5 14 * * 3"
    assert made.parameters["word"] == "x"
    assert f"/schedules/{made.id}/" in capsys.readouterr().out
    interval = Schedule(start_time=datetime.now(), interval_second=1800, name="half-hourly")
    made = create_schedule(tp.words_pipeline, tp.words_pipeline.compile(), interval, client=client)
    assert (made.name, made.interval_second) == ("half-hourly", timedelta(seconds=1800))


def test_client_list_get_update_and_delete_schedules_as_zenmls(client):
    first = create_schedule(
        tp.words_pipeline,
        tp.words_pipeline.compile(),
        Schedule(cron_expression="0 * * * *", name="hourly-report"),
        client=client,
    )
    create_schedule(
        tp.words_pipeline,
        tp.words_pipeline.compile(),
        Schedule(cron_expression="0 0 * * *", name="nightly"),
        client=client,
    )
    assert [s.name for s in client.list_schedules()] == ["hourly-report", "nightly"]
    assert [s.name for s in client.list_schedules(pipeline_id=first.pipeline_id, name="night")] == ["nightly"]
    assert client.get_schedule("hourly").id == first.id  # a prefix only one has
    assert client.get_schedule(first.id).name == "hourly-report"
    updated = client.update_schedule(name_id_or_prefix="hourly-report", cron_expression="30 * * * *")
    assert updated.cron_expression == "30 * * * *"
    paused = client.update_schedule("hourly-report", active=False, parameters={"word": "paused"})
    assert (paused.active, paused.parameters["word"]) == (False, "paused")
    assert [s.name for s in client.list_schedules(active=False)] == ["hourly-report"]
    assert client.update_schedule("hourly-report", interval_second=timedelta(minutes=5)).interval_second == timedelta(
        minutes=5
    )
    with pytest.raises(ServerError, match="times"):
        client.update_schedule("nightly", parameters={"times": "x"})
    client.delete_schedule("hourly-report")
    with pytest.raises(KeyError):
        client.get_schedule("hourly-report")
    assert [s.name for s in client.list_schedules()] == ["nightly"]


def test_a_schedule_outside_the_sdk_is_a_value_error_naming_what_to_give():
    with pytest.raises(ValueError, match="cron expression"):
        Schedule()
    with pytest.raises(ValueError, match="end_time"):
        Schedule(
            interval_second=60, start_time=datetime(2030, 1, 2, tzinfo=UTC), end_time=datetime(2030, 1, 1, tzinfo=UTC)
        )
    assert Schedule(interval_second=timedelta(minutes=2)).to_api()["interval_seconds"] == 120


@pytest.fixture
def any_client(api, monkeypatch):
    """Every Client() (the one a scheduled pipeline call makes too) talks to this test server."""
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))
    return Client()


def test_the_tutorials_schedule_is_made_listed_and_deleted_as_in_zenmls_docs(any_client, capsys):
    # ZenML's "Managing scheduled pipelines", steps 2, 3.1 and 6.1.
    schedule = Schedule(name="daily-data-processing", cron_expression="0 9 * * *")
    scheduled_pipeline = tp.words_pipeline.with_options(schedule=schedule)
    made = scheduled_pipeline()
    assert made.name == "daily-data-processing"
    assert "daily-data-processing" in capsys.readouterr().out

    client = any_client
    schedules = client.list_schedules()
    our_schedule = next((s for s in schedules if s.name == "daily-data-processing"), None)
    assert our_schedule is not None
    assert (our_schedule.cron_expression, our_schedule.pipeline_name) == ("0 9 * * *", "words_pipeline")

    client.delete_schedule("daily-data-processing")
    schedules = client.list_schedules()
    assert not any(s.name == "daily-data-processing" for s in schedules)


def test_the_tutorials_time_zone_advice_keeps_an_aware_start_as_is_and_a_naive_one_as_local_time(any_client):
    from zoneinfo import ZoneInfo

    local_time = datetime(2030, 1, 1, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    schedule = Schedule(name="local-time-schedule", cron_expression="0 9 * * *", start_time=local_time)
    assert schedule.start_time == datetime(2030, 1, 1, 17, 0, tzinfo=UTC)
    made = tp.words_pipeline.with_options(schedule=schedule)()
    assert made.start_time == datetime(2030, 1, 1, 17, 0, tzinfo=UTC)
    # Before its start, the first due time is the first 09:00 (server zone, UTC here) after it.
    assert made.next_due_times[0] == datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
    naive = Schedule(cron_expression="0 9 * * *", start_time=datetime(2030, 1, 1, 9, 0))
    assert naive.start_time == datetime(2030, 1, 1, 9, 0).astimezone().astimezone(UTC)


def test_a_schedules_runs_are_the_runs_it_started(client):
    from pipelines.services.runs import pipeline_run_create
    from pipelines.services.schedules import schedule_fire

    made = create_schedule(
        tp.words_pipeline, tp.words_pipeline.compile(), Schedule(interval_second=60, name="minutely"), client=client
    )
    row = ScheduleRow.objects.get(id=made.id)
    schedule_fire(schedule_id=row.id, now=row.next_due_at + timedelta(seconds=1))
    pipeline_run_create(spec=tp.words_pipeline.compile(), user=row.created_by)  # not the schedule's
    runs = client.get_schedule("minutely").runs
    assert len(runs) == 1
    assert client.get_schedule("minutely").last_due_at == row.next_due_at


def test_a_scheduled_runs_api_representation_names_its_schedule(api, owner):
    from pipelines.services.schedules import schedule_fire

    schedule_id = post(api, interval_seconds=60, name="with-runs").json()["id"]
    row = ScheduleRow.objects.get(id=schedule_id)
    schedule_fire(schedule_id=row.id, now=row.next_due_at + timedelta(seconds=1))
    (listed,) = api.get("/api/v1/runs/", {"schedule": "with-runs"}).json()["results"]
    assert (listed["trigger"], listed["schedule"]) == ("schedule", schedule_id)
    assert api.get(f"/api/v1/runs/{listed['id']}/").json()["schedule"] == schedule_id
