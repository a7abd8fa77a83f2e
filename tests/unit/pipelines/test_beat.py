"""The beat scheduler fires due schedules in its own tick: at most once a second,
before django-celery-beat's own entries, surviving a failed pass."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.celery import app
from pipelines import beat
from pipelines.models import PipelineRun, RunTrigger, ScheduleFiring
from pipelines.services.schedules import schedule_create
from tests.unit import trigger_pipelines as tp

# django-celery-beat closes old connections as it reads its schedule, which would end
# a test transaction: these tests commit (and the database is flushed after each).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_broker")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(beat, "time", fake)
    return fake


@pytest.fixture
def fired(monkeypatch) -> list[int]:
    calls: list[int] = []

    def fake_fire_due() -> int:
        calls.append(1)
        return 0

    monkeypatch.setattr(beat, "schedules_fire_due", fake_fire_due)
    return calls


@pytest.fixture
def parent_interval(monkeypatch) -> list[float]:
    """What django-celery-beat's own tick answers (seconds until its next entry)."""
    answer = [5.0]
    monkeypatch.setattr(DatabaseScheduler, "tick", lambda self, *args, **kwargs: answer[0])
    return answer


def scheduler() -> beat.PipelinesScheduler:
    return beat.PipelinesScheduler(app=app)


def test_the_settings_name_the_pipelines_scheduler_and_no_tick_entry():
    assert app.conf.beat_scheduler == "pipelines.beat:PipelinesScheduler"
    assert "pipelines-schedules-tick" not in app.conf.beat_schedule
    assert "pipelines.schedules_tick" not in app.tasks


def test_the_tick_fires_schedules_at_most_once_a_second(clock, fired, parent_interval):
    sched = scheduler()
    assert sched.tick() == 1.0  # fired now; the next pass is due in a second, before beat's entry
    assert len(fired) == 1
    clock.now += 0.4
    assert sched.tick() == pytest.approx(0.6)
    assert len(fired) == 1
    clock.now += 0.6
    sched.tick()
    assert len(fired) == 2
    parent_interval[0] = 0.25  # beat's own entry is due sooner: sleep only that long
    clock.now += 0.1
    assert sched.tick() == 0.25
    assert len(fired) == 2


def test_a_failed_firing_pass_is_logged_and_retried_a_second_later(clock, parent_interval, monkeypatch, caplog):
    calls: list[int] = []
    closed: list[int] = []

    def failing_then_working() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("server closed the connection unexpectedly")
        return 2

    monkeypatch.setattr(beat, "schedules_fire_due", failing_then_working)
    monkeypatch.setattr(beat, "close_old_connections", lambda: closed.append(1))
    sched = scheduler()
    assert sched.tick() == 1.0
    assert "Firing due schedules failed" in caplog.text
    assert "server closed the connection unexpectedly" in caplog.text
    assert closed == [1]
    clock.now += 1.0
    sched.tick()
    assert len(calls) == 2
    assert "Started 2 scheduled run(s)" in caplog.text


def test_the_tick_starts_a_due_schedules_run_in_the_beat_process(owner, clock, parent_interval):
    schedule = schedule_create(spec=tp.words_pipeline.compile(word="beat"), user=owner, interval_seconds=1)
    assert schedule.next_due_at <= timezone.now() + timedelta(seconds=1)
    time.sleep(max((schedule.next_due_at - timezone.now()).total_seconds(), 0) + 0.05)
    scheduler().tick()
    run = PipelineRun.objects.get(schedule=schedule)
    assert run.trigger == RunTrigger.SCHEDULE
    assert ScheduleFiring.objects.filter(schedule=schedule, run=run).count() == 1


def test_starting_removes_the_obsolete_tick_entry_from_the_database(fired, clock, parent_interval):
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="pipelines-schedules-tick", task="pipelines.schedules_tick", interval=every_second)
    sched = scheduler()
    assert not PeriodicTask.objects.filter(name="pipelines-schedules-tick").exists()
    assert "pipelines-schedules-tick" not in sched.schedule


def test_a_database_error_reading_beats_own_entries_does_not_stop_beat(clock, fired, monkeypatch, caplog):
    from django.db import OperationalError

    sched = scheduler()

    def unreachable(self, *args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(DatabaseScheduler, "tick", unreachable)
    monkeypatch.setattr(beat, "close_old_connections", lambda: None)
    assert sched.tick() == 1.0
    assert "Reading the beat schedule failed" in caplog.text
    clock.now += 1.0
    sched.tick()
    assert len(fired) == 2  # schedules still fire every second meanwhile
