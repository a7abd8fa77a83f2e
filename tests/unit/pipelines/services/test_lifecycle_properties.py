"""Claims, heartbeats, crashes, reaps, retries, finishes and stale deliveries in
random orders (hypothesis, stateful), checking the lifecycle's invariants after
every move:

- at most one attempt is current, and a running step's current attempt is its own;
- a step that reached a terminal status never changes again;
- a completed step has exactly one ready artifact version per output.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from pipelines.models import (
    FINISHED_STEP_STATUSES,
    ArtifactVersion,
    ArtifactVersionStatus,
    AttemptOutcome,
    StepAttempt,
    StepRun,
    StepStatus,
)
from pipelines.services.artifacts import AttemptSuperseded, PendingOutput, SavedOutput, artifact_versions_reserve
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import (
    StepTimings,
    step_run_claim,
    step_run_complete,
    step_run_fail,
    step_run_heartbeat,
    step_runs_reap_crashed,
    step_runs_release_due_retries,
)
from tests.integration import sample_pipelines as sample

NO_TIMINGS = StepTimings(None, None)
attempt_offsets = st.sampled_from([-2, -1, 0, 1])  # stale, current, or from the future


class StepLifecycle(RuleBasedStateMachine):
    user = None  # set by the test

    def __init__(self) -> None:
        super().__init__()
        run = pipeline_run_create(spec=sample.flaky_pipeline.compile(failures=1), user=self.user)
        self.step = run.steps.get(name="flaky")  # retries twice, has one output
        self.terminal: tuple | None = None

    def _fresh(self) -> StepRun:
        return StepRun.objects.get(id=self.step.id)

    def _attempt(self, offset: int) -> int:
        return max(0, self._fresh().attempt + offset)

    @rule()
    def claim(self) -> None:
        step_run_claim(step_run_id=self.step.id, worker="w")

    @rule(offset=attempt_offsets)
    def heartbeat(self, offset: int) -> None:
        step_run_heartbeat(step_run_id=self.step.id, attempt=self._attempt(offset))

    @rule()
    def worker_goes_silent(self) -> None:
        StepRun.objects.filter(id=self.step.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    @rule()
    def reap(self) -> None:
        step_runs_reap_crashed(timeout=60, crash_budget=2)

    @rule()
    def release_due_retries(self) -> None:
        step_runs_release_due_retries(now=timezone.now() + timedelta(days=1))

    @rule(offset=attempt_offsets)
    def finish(self, offset: int) -> None:
        attempt = self._attempt(offset)
        try:
            reserved = artifact_versions_reserve(
                step_run_id=self.step.id,
                attempt=attempt,
                outputs=[
                    PendingOutput(name="output", artifact_name="flaky-out", uri=f"/store/{self.step.id}/{attempt}")
                ],
            )
        except AttemptSuperseded:
            assert not StepRun.objects.filter(id=self.step.id, status=StepStatus.RUNNING, attempt=attempt).exists()
            return
        step_run_complete(
            step_run_id=self.step.id,
            attempt=attempt,
            inputs={},
            outputs=[SavedOutput("output", reserved["output"], "m:M", "builtins.int", "c" * 64, 1)],
            timings=NO_TIMINGS,
            logs="",
        )

    @rule(offset=attempt_offsets, retryable=st.booleans())
    def fail(self, offset: int, retryable: bool) -> None:
        step_run_fail(
            step_run_id=self.step.id,
            attempt=self._attempt(offset),
            error="boom",
            inputs={},
            timings=NO_TIMINGS,
            logs="",
            retryable=retryable,
        )

    @invariant()
    def at_most_one_attempt_is_current(self) -> None:
        step = self._fresh()
        running = list(StepAttempt.objects.filter(step_run=step, outcome=AttemptOutcome.RUNNING))
        assert len(running) <= 1
        if step.status == StepStatus.RUNNING:
            assert [a.number for a in running] == [step.attempt]
        else:
            assert running == []

    @invariant()
    def a_terminal_step_never_changes(self) -> None:
        step = self._fresh()
        if step.status in FINISHED_STEP_STATUSES:
            snapshot = (step.status, step.attempt, step.finished_at, step.error)
            if self.terminal is None:
                self.terminal = snapshot
            assert snapshot == self.terminal
        else:
            assert self.terminal is None

    @invariant()
    def a_completed_step_has_one_ready_version_per_output(self) -> None:
        step = self._fresh()
        ready = ArtifactVersion.objects.filter(producer_step_run=step, status=ArtifactVersionStatus.READY)
        if step.status == StepStatus.COMPLETED:
            assert ready.count() == 1
            assert step.output_links.get().artifact_version_id == ready.get().id
        else:
            assert ready.count() == 0


@pytest.mark.django_db
def test_the_step_lifecycle_keeps_its_invariants_in_any_order(owner, no_broker):
    StepLifecycle.user = owner
    run_state_machine_as_test(
        StepLifecycle,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
