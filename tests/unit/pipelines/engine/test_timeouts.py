"""Timeouts: `@step(timeout=seconds)` fails an attempt whose function runs longer, with
an error that says so; retry rules apply; a step that will not stop is recorded as
failed anyway. In-process (the integration test runs them on a real worker)."""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time

import pytest
from django.db import connection

from pipelines.engine import time_limit as tl
from pipelines.engine.executor import step_run_execute
from pipelines.engine.time_limit import StepTimeoutError, time_limit
from pipelines.models import AttemptOutcome, StepRun, StepStatus
from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.spec import SpecError, validate_spec
from pipelines.sdk.step import step
from pipelines.services.runs import pipeline_run_create
from tests.integration import worker_pipelines as wp

MESSAGE = "step 'sleepy' ran longer than its timeout of 2 s"


def _never_overruns(message: str) -> None:
    raise AssertionError(f"no overrun expected: {message}")


# --- the SDK and the spec ------------------------------------------------------------
def test_a_steps_timeout_is_in_the_compiled_spec():
    spec = wp.sleepy_pipeline.compile(seconds=1)

    assert spec["steps"][0]["timeout"] == 2.0
    assert "timeout" not in wp.quick_pipeline.compile()["steps"][0]


def test_with_options_changes_the_timeout():
    assert wp.quick.with_options(timeout=0.5).timeout == 0.5


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "5", 8 * 24 * 3600])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(timeout):
    def f() -> None: ...

    with pytest.raises(PipelineDefinitionError, match="The timeout of step 'f' must be a number of seconds"):
        step(timeout=timeout)(f)


def test_the_server_refuses_a_spec_with_a_bad_timeout():
    spec = wp.sleepy_pipeline.compile(seconds=1)
    spec["steps"][0]["timeout"] = -3

    with pytest.raises(SpecError, match="The timeout of step 'sleepy' must be a number of seconds"):
        validate_spec(spec)


# --- the limit itself --------------------------------------------------------------------
def _limited(seconds: float | None, body, *, step_name: str = "x", on_overrun=_never_overruns) -> None:
    with time_limit(seconds, step_name=step_name, on_overrun=on_overrun):
        body()


def _sleep_catching_exception() -> None:
    with contextlib.suppress(Exception):  # what many steps do around their work
        time.sleep(10)


def _sleep_catching_everything() -> None:
    with contextlib.suppress(BaseException):
        time.sleep(10)


def _sleep_turning_errors_into_value_errors() -> None:
    try:
        time.sleep(10)
    except BaseException as exc:
        raise ValueError("wrapped") from exc


def _sleep_on_whatever_happens(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):
            time.sleep(0.05)


def test_a_block_past_its_limit_is_cut_short_even_in_a_blocking_sleep():
    started = time.monotonic()

    with pytest.raises(StepTimeoutError, match=re.escape("step 'x' ran longer than its timeout of 0.3 s")):
        _limited(0.3, lambda: time.sleep(10))

    assert time.monotonic() - started < 2


def test_the_timeout_is_not_swallowed_by_except_exception():
    with pytest.raises(StepTimeoutError):
        _limited(0.2, _sleep_catching_exception)


def test_a_block_that_caught_the_timeout_and_returned_still_timed_out():
    with pytest.raises(StepTimeoutError, match=re.escape("timeout of 0.2 s")):
        _limited(0.2, _sleep_catching_everything)


def test_a_block_that_turned_the_timeout_into_its_own_error_reports_the_timeout():
    with pytest.raises(StepTimeoutError, match=re.escape("timeout of 0.2 s")) as caught:
        _limited(0.2, _sleep_turning_errors_into_value_errors)

    assert isinstance(caught.value.__cause__, ValueError)


def test_a_block_within_its_limit_is_untouched_and_the_alarm_handler_is_restored():
    before = signal.getsignal(signal.SIGALRM)

    _limited(5, lambda: time.sleep(0.05))
    time.sleep(0.1)

    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_no_limit_means_no_alarm():
    seen = []
    _limited(None, lambda: seen.append(signal.getitimer(signal.ITIMER_REAL)))

    assert seen == [(0.0, 0.0)]


def test_a_block_in_another_thread_is_stopped_at_its_next_python_instruction():
    outcome: list[BaseException] = []

    def spin() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pass

    def busy() -> None:
        try:
            _limited(0.3, spin, step_name="threaded")
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=busy)
    started = time.monotonic()
    thread.start()
    thread.join(5)

    assert time.monotonic() - started < 3
    assert len(outcome) == 1
    assert isinstance(outcome[0], StepTimeoutError)
    assert "step 'threaded' ran longer than its timeout of 0.3 s" in str(outcome[0])


def test_a_block_that_does_not_stop_is_handed_over_after_the_grace(monkeypatch):
    monkeypatch.setattr(tl, "HARD_STOP_GRACE", 0.3)
    overruns: list[str] = []

    with pytest.raises(StepTimeoutError):
        _limited(0.2, lambda: _sleep_on_whatever_happens(1.5), step_name="stubborn", on_overrun=overruns.append)

    assert overruns == [
        "step 'stubborn' ran longer than its timeout of 0.2 s and did not stop within 0.3 s of being told to"
    ]


# --- through the executor --------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_step_past_its_timeout_fails_with_an_error_that_says_so(owner, broker):
    run = pipeline_run_create(spec=wp.sleepy_pipeline.compile(seconds=30), user=owner)
    started = time.monotonic()

    step_run_execute(step_run_id=broker.sent.pop())

    assert time.monotonic() - started < 10
    step = StepRun.objects.get(pipeline_run=run)
    assert step.status == StepStatus.FAILED
    assert MESSAGE in step.error
    assert "StepTimeoutError" in step.error
    assert [(a.outcome, MESSAGE in a.error) for a in step.attempts.all()] == [(AttemptOutcome.FAILED, True)]
    run.refresh_from_db()
    assert run.status == "failed"


@pytest.mark.django_db(transaction=True)
def test_a_timed_out_step_is_retried_per_its_policy(owner, broker):
    run = pipeline_run_create(spec=wp.sleepy_retried_pipeline.compile(seconds=30), user=owner)

    step_run_execute(step_run_id=broker.sent.pop())

    step = StepRun.objects.get(pipeline_run=run)
    assert step.status == StepStatus.RETRYING
    assert step.failure_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_step_that_will_not_stop_is_recorded_as_failed_by_the_overrun_timer(owner, broker, monkeypatch):
    monkeypatch.setattr(tl, "HARD_STOP_GRACE", 0.5)
    run = pipeline_run_create(spec=wp.stubborn_pipeline.compile(seconds=4), user=owner)
    step_id = broker.sent.pop()
    seen: dict[str, str] = {}

    def watch() -> None:
        # What the database says while the step still runs (after timeout + grace).
        time.sleep(2.5)
        try:
            seen["status"], seen["error"] = StepRun.objects.values_list("status", "error").get(id=step_id)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    step_run_execute(step_run_id=step_id)
    watcher.join()

    assert seen["status"] == StepStatus.FAILED
    assert "step 'stubborn' ran longer than its timeout of 1 s and did not stop within 0.5 s" in seen["error"]
    # The late end of the attempt changes nothing: the failure was already recorded.
    step = StepRun.objects.get(id=step_id)
    assert step.status == StepStatus.FAILED
    assert step.failure_count == 1
    run.refresh_from_db()
    assert run.status == "failed"
