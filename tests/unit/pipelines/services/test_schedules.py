"""Schedules: creating them, firing each occurrence once, catch-up vs skip, pausing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from pipelines.models import PipelineRun, RunTrigger, Schedule, ScheduleFiring
from pipelines.schedule_times import CATCHUP_LIMIT
from pipelines.services.schedules import (
    schedule_create,
    schedule_fire,
    schedule_next_due_times,
    schedule_update,
    schedules_fire_due,
)
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

# A day ahead, so that a new schedule starting then has not missed anything yet.
T0 = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)


def every(owner, seconds: int, *, catchup: bool = False, **extra) -> Schedule:
    return schedule_create(
        spec=tp.words_pipeline.compile(word="tick"),
        user=owner,
        interval_seconds=seconds,
        catchup=catchup,
        **{"start_time": T0, **extra},
    )


def test_an_interval_schedule_fires_its_first_occurrence_at_its_start_as_its_creator(owner):
    schedule = every(owner, 60)
    assert schedule.next_due_at == T0
    assert schedule.parameters == {"word": "tick", "times": 2, "suffix": "!", "ratio": None}
    result = schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(seconds=1))
    assert len(result.started) == 1
    run = PipelineRun.objects.get(schedule=schedule)
    assert (run.trigger, run.triggered_by, run.parameters["word"]) == (RunTrigger.SCHEDULE, owner, "tick")
    firing = ScheduleFiring.objects.get(schedule=schedule)
    assert (firing.due_at, firing.run) == (T0, run)
    schedule.refresh_from_db()
    assert (schedule.last_fired_due_at, schedule.next_due_at) == (T0, T0 + timedelta(seconds=60))


def test_two_fire_calls_for_the_same_due_time_start_one_run(owner):
    schedule = every(owner, 60)
    now = T0 + timedelta(seconds=5)
    assert len(schedule_fire(schedule_id=schedule.id, now=now).started) == 1
    assert schedule_fire(schedule_id=schedule.id, now=now).started == []
    assert PipelineRun.objects.filter(schedule=schedule).count() == 1


def test_a_second_scheduler_that_read_the_schedule_before_the_first_fired_loses_the_insert(owner):
    schedule = every(owner, 60)
    schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(seconds=1))
    # The other scheduler still believes nothing was handled: its insert for T0 fails.
    Schedule.objects.filter(id=schedule.id).update(handled_until=None)
    assert schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(seconds=2)).started == []
    assert PipelineRun.objects.filter(schedule=schedule).count() == 1
    assert ScheduleFiring.objects.filter(schedule=schedule).count() == 1


def test_without_catchup_an_outage_starts_only_the_latest_occurrence(owner):
    schedule = every(owner, 60)
    schedule_fire(schedule_id=schedule.id, now=T0)
    result = schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(minutes=10, seconds=30))
    assert (len(result.started), result.skipped) == (1, 9)
    assert list(ScheduleFiring.objects.filter(schedule=schedule).values_list("due_at", flat=True)) == [
        T0 + timedelta(minutes=10),
        T0,
    ]


def test_with_catchup_an_outage_starts_each_missed_occurrence_oldest_first(owner):
    schedule = every(owner, 60, catchup=True)
    schedule_fire(schedule_id=schedule.id, now=T0)
    result = schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(minutes=3, seconds=30))
    assert (len(result.started), result.skipped) == (3, 0)
    runs = PipelineRun.objects.filter(schedule=schedule).order_by("id")
    dues = [ScheduleFiring.objects.get(run=run).due_at for run in runs]
    assert dues == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)]


def test_catchup_is_bounded_to_the_latest_occurrences(owner):
    schedule = every(owner, 60, catchup=True)
    schedule_fire(schedule_id=schedule.id, now=T0)
    result = schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(hours=2))
    assert len(result.started) == CATCHUP_LIMIT
    assert result.skipped == 120 - CATCHUP_LIMIT
    assert ScheduleFiring.objects.filter(schedule=schedule).latest("due_at").due_at == T0 + timedelta(hours=2)


def test_a_paused_schedule_fires_nothing_and_resuming_skips_what_fell_due_meanwhile(owner):
    schedule = every(owner, 60, catchup=True)
    schedule_fire(schedule_id=schedule.id, now=T0)
    schedule_update(schedule=schedule, changes={"paused": True}, now=T0 + timedelta(seconds=10))
    assert schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(minutes=5)).started == []
    assert schedule_next_due_times(Schedule.objects.get(id=schedule.id)) == []
    schedule = schedule_update(schedule=schedule, changes={"paused": False}, now=T0 + timedelta(minutes=5, seconds=10))
    assert schedule.next_due_at == T0 + timedelta(minutes=6)
    # Catch-up or not, minutes 1 to 5 fell in the pause: only minute 6 starts.
    assert len(schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(minutes=6, seconds=1)).started) == 1
    assert list(ScheduleFiring.objects.filter(schedule=schedule).values_list("due_at", flat=True)) == [
        T0 + timedelta(minutes=6),
        T0,
    ]


def test_the_tick_fires_only_due_active_schedules(owner):
    due = every(owner, 60, name="due")
    later = every(owner, 60, name="later", start_time=T0 + timedelta(hours=1))
    paused = every(owner, 60, name="paused")
    schedule_update(schedule=paused, changes={"paused": True})
    Schedule.objects.filter(id=paused.id).update(next_due_at=T0)
    assert schedules_fire_due(now=T0 + timedelta(seconds=1)) == 1
    assert list(ScheduleFiring.objects.values_list("schedule__name", flat=True)) == [due.name]
    assert later.next_due_at == T0 + timedelta(hours=1)


def test_a_cron_schedule_keeps_its_zone_and_lists_its_next_three_due_times_in_utc(owner):
    schedule = schedule_create(
        spec=tp.words_pipeline.compile(), user=owner, cron_expression="0 9 * * *", timezone_name="Europe/Paris"
    )
    times = schedule_next_due_times(schedule)
    assert len(times) == 3
    assert all(t.astimezone(tz=None).tzinfo is not None for t in times)
    assert {t.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")).hour for t in times} == {9}


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({}, "cron_expression", "Give a cron_expression"),
        ({"cron_expression": "*/5 * * * *", "interval_seconds": 60}, "interval_seconds", "Give one of"),
        ({"cron_expression": "99 * * * *"}, "cron_expression", "outside 0-59"),
        ({"cron_expression": "* * * * *", "timezone_name": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        (
            {"interval_seconds": 60, "start_time": T0, "end_time": T0 - timedelta(hours=1)},
            "end_time",
            "must be after start_time",
        ),
        ({"interval_seconds": 0}, "interval_seconds", "at least 1"),
        ({"cron_expression": "* * * * *", "parameters": {"nope": 1}}, "nope", "no parameter 'nope'"),
        ({"cron_expression": "* * * * *", "parameters": {"times": "x"}}, "times", ""),
    ],
)
def test_a_schedule_that_cannot_work_is_refused_naming_the_field(owner, fields, field, says):
    with pytest.raises(ValidationError) as caught:
        schedule_create(spec=tp.words_pipeline.compile(), user=owner, **fields)
    assert field in caught.value.message_dict
    assert says in " ".join(caught.value.message_dict[field])
    assert not Schedule.objects.exists()


def test_changing_parameters_and_cron_takes_effect_on_the_next_occurrence(owner):
    schedule = every(owner, 60)
    schedule_fire(schedule_id=schedule.id, now=T0)
    schedule = schedule_update(
        schedule=schedule, changes={"parameters": {"word": "new"}, "interval_seconds": 120}, now=T0
    )
    assert schedule.parameters["word"] == "new"
    assert schedule.parameters["times"] == 2
    schedule_fire(schedule_id=schedule.id, now=schedule.next_due_at)
    assert PipelineRun.objects.filter(schedule=schedule).latest("id").parameters["word"] == "new"


def test_a_name_is_unique(owner):
    every(owner, 60, name="nightly")
    with pytest.raises(ValidationError, match="exists"):
        every(owner, 60, name="nightly")
