"""Ready steps beyond what the live workers can run at once are held back from the
broker; a worker ending one of the run's steps claims the next of them itself, and
the reaper sends those nobody claimed (see `_messages_to_send` in services/steps.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipelines import dispatch
from pipelines.engine import executor, time_limit
from pipelines.engine.executor import step_run_execute
from pipelines.models import RunStatus, StepAttempt, StepRun, StepStatus, WorkerHeartbeat
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import (
    MIN_MESSAGES_SENT,
    step_run_claim,
    step_run_claim_held_back,
    step_runs_redispatch_lost,
)
from tests.integration import failing_wide_pipelines, wide_pipelines

pytestmark = pytest.mark.django_db(transaction=True)


def _held(run) -> list[int]:
    return list(run.steps.filter(status=StepStatus.QUEUED, dispatched_at=None).values_list("id", flat=True))


def test_a_wide_run_sends_as_many_messages_as_the_minimum_when_no_worker_is_known(owner, broker):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=50), user=owner)

    assert len(broker.sent) == MIN_MESSAGES_SENT
    assert len(_held(run)) == 50 - MIN_MESSAGES_SENT
    # Sent ones carry their dispatch mark; held ones are queued like any other.
    assert run.steps.filter(status=StepStatus.QUEUED).count() == 50


def test_twice_the_live_pool_processes_of_the_queue_are_sent(owner, broker, settings):
    now = timezone.now()
    queue = settings.PIPELINES["QUEUE"]
    WorkerHeartbeat.objects.create(hostname="a", queues=[queue], concurrency=10, started_at=now, last_seen_at=now)
    WorkerHeartbeat.objects.create(hostname="b", queues=[queue], concurrency=4, started_at=now, last_seen_at=now)
    # Neither a worker of another queue nor one gone silent counts.
    WorkerHeartbeat.objects.create(hostname="c", queues=["gpu"], concurrency=50, started_at=now, last_seen_at=now)
    long_ago = now - timedelta(hours=1)
    WorkerHeartbeat.objects.create(
        hostname="d", queues=[queue], concurrency=50, started_at=long_ago, last_seen_at=long_ago
    )

    pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=60), user=owner)

    assert len(broker.sent) == 2 * (10 + 4)


def test_without_running_the_next_step_inline_every_ready_step_is_sent(owner, broker, settings):
    settings.PIPELINES = {**settings.PIPELINES, "RUN_NEXT_STEP_INLINE": False}

    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=30), user=owner)

    assert len(broker.sent) == 30
    assert _held(run) == []


def test_one_delivery_runs_the_held_back_steps_of_its_run_and_the_run_completes(owner, broker):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=40), user=owner)
    first = broker.sent.pop(0)

    step_run_execute(step_run_id=first)

    # Every held-back branch ran in this delivery, one attempt each, claimed for it.
    assert _held(run) == []
    ran = StepRun.objects.filter(pipeline_run=run, status=StepStatus.COMPLETED)
    assert ran.count() == 1 + (40 - MIN_MESSAGES_SENT)
    assert set(StepAttempt.objects.filter(step_run__in=ran).values_list("number", flat=True)) == {1}
    # The other messages still run their own steps (none was taken from them), then
    # the join is queued and the run completes.
    broker.drain()
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert StepAttempt.objects.filter(step_run__pipeline_run=run).count() == 41


def test_a_failed_step_claims_the_next_held_back_step(owner, broker):
    run = pipeline_run_create(spec=failing_wide_pipelines.failing_wide.compile(width=40), user=owner)
    failing = run.steps.get(name="branch_0000")
    assert failing.id in broker.sent

    broker.sent.remove(failing.id)
    step_run_execute(step_run_id=failing.id)

    failing.refresh_from_db()
    assert failing.status == StepStatus.FAILED
    # The failure went on with the held-back branches rather than leaving them to the reaper.
    assert _held(run) == []


def test_held_back_steps_nobody_claims_are_sent_by_the_reaper(owner, broker):
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=30), user=owner)
    held = _held(run)
    broker.sent.clear()

    resent = step_runs_redispatch_lost(grace=0, now=timezone.now() + timedelta(seconds=1))

    assert sorted(resent) == sorted(held)
    assert sorted(broker.sent) == sorted(held)


def test_a_delivery_whose_step_a_worker_claimed_as_held_back_runs_a_held_back_step_instead(owner, broker, monkeypatch):
    # Between the commit that queues a wide run's ready steps and the dispatch mark the
    # publish writes once the broker has their messages, a sent step looks held back:
    # a worker ending another of the run's steps may claim it. Its message then finds
    # it claimed; unless that delivery takes a held-back step in its place, one step
    # fewer runs at a time until the reaper sends the rest.
    sent = broker.send_step
    stolen: list[int] = []

    def send_and_race(step_run_id: int, *, queue: str) -> None:
        sent(step_run_id, queue=queue)
        if not stolen:
            step = StepRun.objects.get(id=step_run_id)
            claimed = step_run_claim_held_back(run_id=step.pipeline_run_id, queue=queue, worker="other-worker")
            stolen.append(claimed[0])

    monkeypatch.setattr(dispatch, "send_step", send_and_race)
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=40), user=owner)
    # The worker took a step whose message was on its way, not one held back.
    assert stolen[0] in broker.sent
    held = _held(run)
    assert len(held) == 40 - MIN_MESSAGES_SENT

    step_run_execute(step_run_id=stolen[0])

    # The delivery found its step taken and ran the held-back steps instead.
    assert _held(run) == []
    assert StepRun.objects.filter(id__in=held, status=StepStatus.COMPLETED).count() == len(held)
    assert StepRun.objects.get(id=stolen[0]).status == StepStatus.RUNNING  # still the other worker's


def test_workers_that_do_not_run_the_next_step_inline_send_a_held_back_step_at_each_end(owner, broker, settings):
    # The process that queues a wide run (the API's, a worker's) holds steps back by
    # its own RUN_NEXT_STEP_INLINE; workers set without it never claim them. Each of
    # their ends, success or failure, sends one in its place, so as many steps run at
    # a time as were sent, not only those until the reaper's next pass.
    run = pipeline_run_create(spec=failing_wide_pipelines.failing_wide.compile(width=40), user=owner)
    assert len(_held(run)) == 40 - MIN_MESSAGES_SENT
    settings.PIPELINES = {**settings.PIPELINES, "RUN_NEXT_STEP_INLINE": False}

    delivered = 0
    while broker.sent:
        step_run_execute(step_run_id=broker.sent.pop(0))
        delivered += 1

    # Every branch ran from a message of its own (the failing one included), none by the reaper.
    assert _held(run) == []
    assert run.steps.filter(status__in=[StepStatus.COMPLETED, StepStatus.FAILED]).count() == 40
    assert delivered == 40
    assert StepAttempt.objects.filter(step_run__pipeline_run=run).count() == 40


def test_a_step_the_overrun_timer_fails_sends_a_held_back_step_before_ending_the_process(owner, broker, monkeypatch):
    # In a prefork pool the timer records the failure of a step that will not stop,
    # then ends the process: that step's end never claims the run's next held-back
    # step, so the timer sends one for any worker before it ends the process.
    monkeypatch.setattr(time_limit, "HARD_STOP_GRACE", 0.3)
    monkeypatch.setattr(executor, "in_pool_process", lambda: True)
    sent_when_ended: list[list[int]] = []
    monkeypatch.setattr(executor.os, "kill", lambda pid, sig: sent_when_ended.append(list(broker.sent)))
    run = pipeline_run_create(spec=failing_wide_pipelines.stubborn_wide.compile(width=20), user=owner)
    held = _held(run)
    first = broker.sent.pop(0)
    broker.sent.clear()

    step_run_execute(step_run_id=first)

    assert StepRun.objects.get(id=first).status == StepStatus.FAILED
    assert len(sent_when_ended) >= 1
    assert len(sent_when_ended[0]) == 1
    assert sent_when_ended[0][0] in held


def test_a_delivery_whose_step_is_taken_does_not_wait_for_the_runs_row_when_nothing_is_held_back(owner, broker):
    # Every end of a run's steps waits for the run's row in turn: a message that finds
    # its step already claimed (a duplicate, a reaper's re-send) must not queue up
    # there too only to learn that nothing is held back.
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=3), user=owner)
    assert _held(run) == []
    first = broker.sent.pop(0)
    step_run_claim(step_run_id=first, worker="other-worker")

    with CaptureQueriesContext(connection) as queries:
        step_run_execute(step_run_id=first)

    locks = [q["sql"] for q in queries if 'FROM "pipelines_pipelinerun" WHERE "pipelines_pipelinerun".id' in q["sql"]]
    assert locks == []
    assert StepRun.objects.get(id=first).worker == "other-worker"


def test_the_reaper_sends_a_wide_runs_held_back_steps_with_a_few_statements_not_some_per_step(owner, broker):
    # The reaper runs in the worker's heartbeat thread: a transaction, a mark and a
    # check per step, for a thousand held-back steps, kept the heartbeat away long
    # enough for the worker to look dead (clients were told no worker served the queue).
    run = pipeline_run_create(spec=wide_pipelines.wide_pipeline.compile(width=200), user=owner)
    held = _held(run)
    broker.sent.clear()

    with CaptureQueriesContext(connection) as queries:
        resent = step_runs_redispatch_lost(grace=0, now=timezone.now() + timedelta(seconds=1))

    assert sorted(resent) == sorted(held)
    assert sorted(broker.sent) == sorted(held)
    assert len(queries) <= 5, [q["sql"][:80] for q in queries]  # (737 sent a step at a time)
    assert _held(run) == []
