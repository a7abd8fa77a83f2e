"""A schedule fired by real `celery -A config beat` processes (our scheduler fires due
schedules in its own tick) and a real worker: an interval of 2 s fires at least
twice, a second beat beside the first starts no occurrence twice (runs == distinct
due times), and pausing stops it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from pipelines.models import PipelineRun, RunStatus, RunTrigger, ScheduleFiring
from pipelines.services.schedules import schedule_create, schedule_update
from pipelines.supervisor import Supervisor, start_process, stop_processes
from tests.integration import sample_pipelines as sample
from tests.live_helpers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BEAT_READY_TIMEOUT = 30
READY_LINE = b"Pipelines scheduler: firing due schedules every"


def start_beat(log_path: Path):
    """`celery -A config beat` as `make demo` runs it, on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PIPELINES_DATA_DIR": str(settings.DATA_DIR),
        "PIPELINES_USE_TEST_DATABASE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"]
    process = start_process(command, cwd=REPO, env=env, log_path=log_path)
    sent = Supervisor(poll_interval=0.1).wait_until(
        lambda: process.poll() is not None or READY_LINE in log_path.read_bytes(),
        timeout=BEAT_READY_TIMEOUT,
    )
    if not sent or process.poll() is not None:
        stop_processes([process], timeout=5)
        pytest.fail(f"celery beat did not start firing schedules:\n{log_path.read_text(errors='replace')[-4000:]}")
    return process


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_two_beats_fire_each_occurrence_once_and_pausing_stops_them(running_worker, owner, tmp_path):
    schedule = schedule_create(
        spec=sample.numbers_pipeline.compile(scale=3), user=owner, interval_seconds=2, name="every-two-seconds"
    )
    beats = []
    try:
        beats.append(start_beat(tmp_path / "beat-1.log"))
        beats.append(start_beat(tmp_path / "beat-2.log"))

        def runs():
            return PipelineRun.objects.filter(schedule=schedule)

        assert wait_for(lambda: runs().count() >= 3, timeout=20), f"{runs().count()} scheduled runs after 20 s"
        due_times = list(ScheduleFiring.objects.filter(schedule=schedule).values_list("due_at", flat=True))
        assert len(due_times) == len(set(due_times)) == runs().count()
        # Due times are the schedule's own: its start plus whole intervals.
        start = schedule.start_time
        assert all((due - start).total_seconds() % 2 == 0 for due in due_times)
        assert {run.trigger for run in runs()} == {RunTrigger.SCHEDULE}
        assert {run.triggered_by_id for run in runs()} == {owner.id}
        assert wait_for(lambda: runs().filter(status=RunStatus.COMPLETED).exists(), timeout=30)
        first = runs().filter(status=RunStatus.COMPLETED).first()
        assert first.steps.get(name="total").status == "completed"

        schedule_update(schedule=schedule, changes={"paused": True})
        time.sleep(1.5)  # a firing pass already under way may still start its occurrence
        paused_at = runs().count()
        time.sleep(5)
        assert runs().count() == paused_at, "a paused schedule started runs"
    finally:
        stop_processes(beats, timeout=10)
    logs = [(tmp_path / f"beat-{n}.log").read_text(errors="replace") for n in (1, 2)]
    # The beats started the runs themselves (whichever was first for an occurrence),
    # neither failed a pass, and no tick task went to the workers' queue.
    assert any("scheduled run(s)" in log for log in logs), logs
    assert not any("Firing due schedules failed" in log for log in logs), logs
    assert not any("pipelines.schedules_tick" in log for log in logs), logs


def test_a_schedule_starts_its_run_on_time_while_every_worker_slot_is_busy(running_worker, owner, tmp_path):
    """Beat fires schedules itself: no free worker slot is needed to start a run (with
    a tick task on the workers' queue, nothing fired until a slot freed)."""
    from pipelines.models import StepRun
    from pipelines.services.runs import pipeline_run_create

    nap_seconds = 30  # beat starts in a few seconds; the naps outlast it and the check
    busy = [
        pipeline_run_create(spec=sample.parallel_pipeline.compile(seconds=nap_seconds), user=owner) for _ in range(2)
    ]
    naps = StepRun.objects.filter(pipeline_run__in=busy, status="running")
    # The session's worker has 4 slots: two runs of two parallel naps fill them.
    assert wait_for(lambda: naps.count() == 4, timeout=15), f"{naps.count()} naps running"
    schedule = schedule_create(
        spec=sample.numbers_pipeline.compile(scale=3), user=owner, interval_seconds=2, name="while-busy"
    )
    beats = [start_beat(tmp_path / "beat-busy.log")]
    try:
        scheduled = PipelineRun.objects.filter(schedule=schedule)
        assert wait_for(scheduled.exists, timeout=6), "no scheduled run while the worker was busy"
        assert naps.count() == 4, "a slot freed before the scheduled run started"
        schedule_update(schedule=schedule, changes={"paused": True})
    finally:
        stop_processes(beats, timeout=10)
    # Its steps waited for a slot and then ran.
    assert wait_for(lambda: not scheduled.exclude(status=RunStatus.COMPLETED).exists(), timeout=nap_seconds + 30)
    assert wait_for(
        lambda: (
            not PipelineRun.objects.filter(id__in=[r.id for r in busy]).exclude(status=RunStatus.COMPLETED).exists()
        ),
        timeout=30,
    )
