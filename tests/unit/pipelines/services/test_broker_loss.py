"""A broker that loses messages it was handed (Redis restarted without persistence, a
RabbitMQ queue deleted or purged) strands no step: the reaper sends again every queued
step nobody claimed in time, backing off per step so a step that merely waits behind
busy workers does not flood the broker, and the claim keeps duplicates harmless.

Publishing is intercepted and the clock is the test's: each test decides what the
broker holds and what time it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from pipelines.engine.executor import step_run_execute
from pipelines.models import RunStatus, StepRun, StepStatus
from pipelines.services.reaper import reap_once
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import (
    resend_interval,
    step_run_claim,
    step_runs_redispatch_lost,
    step_runs_resend_unclaimed,
)
from tests.integration import broker_loss_pipelines as chain

pytestmark = pytest.mark.django_db(transaction=True)

AFTER = 60.0
LONGEST = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    # Every service (and the publish that stamps dispatched_at) reads timezone.now().
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture
def executions(tmp_path, monkeypatch):
    path = tmp_path / "executions.txt"
    monkeypatch.setenv(chain.EXECUTIONS_FILE_ENV, str(path))
    return lambda: path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def knobs(settings):
    settings.PIPELINES = {**settings.PIPELINES, "REQUEUE_AFTER": AFTER, "REQUEUE_MAX_INTERVAL": LONGEST}
    return settings.PIPELINES


def _first_step(owner) -> StepRun:
    run = pipeline_run_create(spec=chain.chain_pipeline.compile(seconds=0), user=owner)
    return run.steps.get(name="first")


def test_the_reaper_sends_again_a_queued_step_whose_message_the_broker_lost(owner, clock, broker, knobs):
    step = _first_step(owner)
    assert broker.sent == [step.id]
    assert StepRun.objects.get(id=step.id).dispatched_at is not None
    broker.sent.clear()  # the broker restarts empty

    clock.advance(AFTER + 1)
    report = reap_once()

    assert report.resent == [step.id]
    assert broker.sent == [step.id]
    assert StepRun.objects.get(id=step.id).dispatched_at == clock.now


def test_a_step_sent_less_than_the_interval_ago_is_left_alone(owner, clock, broker, knobs):
    step = _first_step(owner)
    broker.sent.clear()

    clock.advance(AFTER - 1)
    assert step_runs_resend_unclaimed(after=AFTER, longest=LONGEST) == []
    assert broker.sent == []
    assert StepRun.objects.get(id=step.id).dispatched_at is not None


def test_a_step_waiting_an_hour_behind_busy_workers_is_sent_again_with_a_doubling_interval(owner, clock, broker):
    step = _first_step(owner)
    queued_at = clock.now
    broker.sent.clear()

    resent_at = []
    for _ in range(3600 // 5):  # a reaper pass every 5 s for an hour
        clock.advance(5)
        if step_runs_resend_unclaimed(after=AFTER, longest=LONGEST):
            resent_at.append(round((clock.now - queued_at).total_seconds()))

    # 60, 120, 240, 480 after it was queued, then every 600 s at most.
    assert resent_at == [60, 120, 240, 480, 960, 1560, 2160, 2760, 3360]
    assert broker.sent == [step.id] * len(resent_at)


def test_the_interval_is_the_wait_so_far_between_the_two_bounds():
    assert resend_interval(waited=timedelta(0), after=AFTER, longest=LONGEST) == timedelta(seconds=AFTER)
    assert resend_interval(waited=timedelta(seconds=200), after=AFTER, longest=LONGEST) == timedelta(seconds=200)
    assert resend_interval(waited=timedelta(hours=5), after=AFTER, longest=LONGEST) == timedelta(seconds=LONGEST)


def test_two_reapers_on_the_same_step_send_it_once(owner, clock, broker):
    step = _first_step(owner)
    broker.sent.clear()
    clock.advance(AFTER + 1)

    first = step_runs_resend_unclaimed(after=AFTER, longest=LONGEST)
    second = step_runs_resend_unclaimed(after=AFTER, longest=LONGEST)

    assert (first, second) == ([step.id], [])
    assert broker.sent == [step.id]


def test_a_reaper_that_read_the_row_before_another_sent_it_does_not_send_it_again(owner, clock, broker, monkeypatch):
    step = _first_step(owner)
    broker.sent.clear()
    clock.advance(AFTER + 1)
    # Another worker's reaper re-sends the step between this reaper's read and its update.
    from pipelines.services import steps as step_services

    real_atomic = step_services.transaction.atomic
    raced: list[list[int]] = []
    rival_started = []

    def atomic_after_a_rival():
        if not rival_started:
            rival_started.append(True)
            raced.append(step_services.step_runs_resend_unclaimed(after=AFTER, longest=LONGEST))
        return real_atomic()

    monkeypatch.setattr(step_services.transaction, "atomic", atomic_after_a_rival)
    mine = step_runs_resend_unclaimed(after=AFTER, longest=LONGEST)

    assert raced == [[step.id]]
    assert mine == []
    assert broker.sent == [step.id]


def test_a_claimed_step_is_never_sent_again(owner, clock, broker):
    step = _first_step(owner)
    step_run_claim(step_run_id=step.id, worker="busy")
    broker.sent.clear()

    clock.advance(LONGEST * 10)
    assert step_runs_resend_unclaimed(after=AFTER, longest=LONGEST) == []
    assert broker.sent == []


def test_a_re_send_that_fails_is_tried_again_on_the_next_pass(owner, clock, broker):
    step = _first_step(owner)
    broker.sent.clear()
    clock.advance(AFTER + 1)

    broker.down()
    assert step_runs_resend_unclaimed(after=AFTER, longest=LONGEST) == [step.id]
    # No dispatch mark: the broker never took the message, so the next pass sends it
    # without waiting another interval.
    assert StepRun.objects.get(id=step.id).dispatched_at is None

    broker.up()
    clock.advance(5)
    assert step_runs_redispatch_lost(grace=30) == [step.id]
    assert broker.sent == [step.id]
    assert StepRun.objects.get(id=step.id).dispatched_at == clock.now


def test_a_message_sent_again_that_was_not_lost_runs_the_step_once(owner, clock, broker, executions, knobs):
    run = pipeline_run_create(spec=chain.chain_pipeline.compile(seconds=0), user=owner)
    first = run.steps.get(name="first")
    clock.advance(AFTER + 1)
    reap_once()
    assert broker.sent == [first.id, first.id]  # the original and the copy

    while broker.sent:  # every message is delivered, duplicates included
        step_run_execute(step_run_id=broker.sent.pop(0))
        clock.advance(1)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.COMPLETED}
    lines = executions()
    assert sorted(line.split()[1] for line in lines) == ["first", "second", "third"]
    assert StepRun.objects.get(id=first.id).attempt == 1


def _settings_value(expression: str, **variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIPELINES_REQUEUE")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", **variables)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; print({expression})"],
        env=env,
        capture_output=True,
        text=True,
        cwd=django_settings.BASE_DIR,
        timeout=60,
    )


def test_the_intervals_come_from_the_environment_and_nonsense_is_refused():
    configured = _settings_value(
        "settings.PIPELINES['REQUEUE_AFTER'], settings.PIPELINES['REQUEUE_MAX_INTERVAL']",
        PIPELINES_REQUEUE_AFTER="15",
        PIPELINES_REQUEUE_MAX_INTERVAL="120",
    )
    inverted = _settings_value("1", PIPELINES_REQUEUE_AFTER="120", PIPELINES_REQUEUE_MAX_INTERVAL="60")
    zero = _settings_value("1", PIPELINES_REQUEUE_AFTER="0")

    assert configured.stdout.strip() == "15.0 120.0", configured.stderr
    assert inverted.returncode != 0
    assert "PIPELINES_REQUEUE_MAX_INTERVAL" in inverted.stderr
    assert zero.returncode != 0
    assert "PIPELINES_REQUEUE_AFTER" in zero.stderr


def test_while_the_broker_is_away_a_pass_gives_up_re_sending_at_the_first_refusal(owner, clock, broker):
    steps = [_first_step(owner) for _ in range(3)]
    clock.advance(AFTER + 1)
    broker.down()

    # Each try would cost the worker's heartbeat thread a connection timeout.
    assert step_runs_resend_unclaimed(after=AFTER, longest=LONGEST) == [steps[0].id]
    assert broker.refused == [steps[0].id]

    broker.sent.clear()
    broker.up()
    clock.advance(1)
    assert step_runs_redispatch_lost(grace=30) == [steps[0].id]
    assert sorted(step_runs_resend_unclaimed(after=AFTER, longest=LONGEST)) == sorted(s.id for s in steps[1:])
    assert sorted(broker.sent) == sorted(s.id for s in steps)


def test_while_the_broker_is_away_a_pass_gives_up_sending_never_sent_steps_at_the_first_refusal(owner, clock, broker):
    broker.down()
    steps = [_first_step(owner) for _ in range(3)]  # the broker never had them
    assert len(broker.refused) == 3
    clock.advance(31)

    assert step_runs_redispatch_lost(grace=30) == [steps[0].id]
    assert broker.refused[3:] == [steps[0].id]
