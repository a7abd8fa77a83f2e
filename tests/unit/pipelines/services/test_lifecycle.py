"""Caching, retries, crash recovery, stopping and artifact integrity, in-process.

Publishing to the broker is intercepted; each test decides when a step runs, when
the reaper passes and what time it is.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from pipelines.engine.cache import cache_key
from pipelines.models import (
    ArtifactVersion,
    ArtifactVersionStatus,
    AttemptOutcome,
    PipelineRun,
    RunStatus,
    StepRun,
    StepStatus,
)
from pipelines.services.artifacts import PendingOutput, artifact_versions_reserve
from pipelines.services.reaper import artifact_versions_cleanup_abandoned
from pipelines.services.runs import pipeline_run_create, pipeline_run_stop
from pipelines.services.steps import (
    StepTimings,
    step_run_claim,
    step_run_complete,
    step_run_heartbeat,
    step_runs_reap_crashed,
    step_runs_redispatch_lost,
    step_runs_release_due_retries,
)
from pipelines.services.transitions import STEP_TRANSITIONS, IllegalTransition, check_transition, move_steps
from pipelines.storage import artifact_store
from tests.fakes import FakeBroker
from tests.integration import sample_pipelines as sample

pytestmark = pytest.mark.django_db(transaction=True)
S = StepStatus


@pytest.fixture
def calls(tmp_path, monkeypatch):
    path = tmp_path / "calls.txt"
    monkeypatch.setenv(sample.CALLS_FILE_ENV, str(path))
    return lambda: path.read_text().split() if path.exists() else []


def _run(pipeline, owner, broker, **params) -> PipelineRun:
    run = pipeline_run_create(spec=pipeline.compile(**params), user=owner)
    broker.drain()
    run.refresh_from_db()
    return run


def _statuses(run: PipelineRun) -> dict[str, str]:
    return dict(run.steps.values_list("name", "status"))


# --- the state machine ------------------------------------------------------------------
ALL_PAIRS = list(itertools.product(S.values, S.values))


@pytest.mark.parametrize(("source", "target"), ALL_PAIRS)
def test_every_transition_is_allowed_exactly_when_the_table_says(source, target):
    if target in STEP_TRANSITIONS[source]:
        check_transition(source, target)
    else:
        with pytest.raises(IllegalTransition, match=f"from {source} to {target}"):
            check_transition(source, target)


def test_finished_statuses_have_no_way_out():
    for status in (S.COMPLETED, S.CACHED, S.FAILED, S.SKIPPED, S.STOPPED):
        assert STEP_TRANSITIONS[status] == frozenset()


def test_a_move_from_the_wrong_status_changes_nothing(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    total = run.steps.get(name="total")  # pending

    assert move_steps([total.id], source=[S.QUEUED], target=S.RUNNING) == 0
    assert StepRun.objects.get(id=total.id).status == S.PENDING


# --- the cache key ----------------------------------------------------------------------
BASE_STEP = {
    "name": "train",
    "source": "mod:train",
    "code_hash": "abc",
    "parameters": {"c": 1, "seed": 2},
    "inputs": {"data": {"step": "load", "output": "data"}},
    "after": [],
    "outputs": [{"name": "model", "type": "builtins.dict", "materializer": "m:M"}],
    "enable_cache": True,
    "retry": None,
    "extra": {},
}


@pytest.mark.parametrize(
    "change",
    [
        {"code_hash": "abd"},
        {"source": "mod:train2"},
        {"parameters": {"c": 2, "seed": 2}},
        {"outputs": [{"name": "model2", "type": "builtins.dict", "materializer": "m:M"}]},
        {"outputs": [{"name": "model", "type": "builtins.dict", "materializer": "m:Other"}]},
        {"extra": {"gpu": True}},
    ],
)
def test_the_cache_key_changes_with_what_determines_the_outputs(change):
    assert cache_key({**BASE_STEP, **change}, {"data": 1}) != cache_key(BASE_STEP, {"data": 1})


def test_the_cache_key_changes_with_the_input_versions():
    assert cache_key(BASE_STEP, {"data": 2}) != cache_key(BASE_STEP, {"data": 1})


@pytest.mark.parametrize(
    "change",
    [
        {"enable_cache": False},
        {"retry": {"max_retries": 3, "delay": 1, "backoff": 2}},
        {"name": "train_2"},
        {"after": ["other"]},
        {"parameters": {"seed": 2, "c": 1}},
    ],
)
def test_the_cache_key_ignores_what_does_not_change_outputs(change):
    assert cache_key({**BASE_STEP, **change}, {"data": 1}) == cache_key(BASE_STEP, {"data": 1})


# --- caching end to end (in-process) ---------------------------------------------------
def test_a_repeated_run_reuses_outputs_without_running_user_code(owner, broker, calls):
    first = _run(sample.cached_pipeline, owner, broker, size=4)
    second = _run(sample.cached_pipeline, owner, broker, size=4)

    assert first.status == second.status == RunStatus.COMPLETED
    assert _statuses(second) == {"cached_source": "cached", "cached_sum": "cached"}
    assert calls() == ["cached_source", "cached_sum"]
    for name in ("cached_source", "cached_sum"):
        original, reused = first.steps.get(name=name), second.steps.get(name=name)
        assert reused.cached_from_id == original.id
        assert reused.output_links.get().artifact_version_id == original.output_links.get().artifact_version_id
        # Resolved where it became ready: no broker message, no worker, no attempt.
        assert not reused.attempts.exists()


def test_a_fully_cached_run_completes_without_sending_anything_to_the_broker(owner, broker, calls):
    _run(sample.cached_pipeline, owner, broker, size=4)

    second = pipeline_run_create(spec=sample.cached_pipeline.compile(size=4), user=owner)

    assert broker.sent == []
    second.refresh_from_db()
    assert second.status == RunStatus.COMPLETED
    assert second.finished_at is not None


def test_a_changed_parameter_misses_the_cache(owner, broker, calls):
    _run(sample.cached_pipeline, owner, broker, size=4)
    second = _run(sample.cached_pipeline, owner, broker, size=5)

    assert _statuses(second) == {"cached_source": "completed", "cached_sum": "completed"}
    assert calls().count("cached_source") == 2


# Enough numbers that the output is too large to be kept in its row (a small one is
# loaded from there, its files only a copy: see test_inline_artifacts.py).
FILE_BACKED_SIZE = 2000


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_the_cache_never_serves_a_missing_or_damaged_file(owner, broker, calls, damage):
    first = _run(sample.cached_pipeline, owner, broker, size=FILE_BACKED_SIZE)
    assert first.steps.get(name="cached_source").output_links.get().artifact_version.inline_files is None
    stored = first.steps.get(name="cached_source").output_links.get().artifact_version
    data_file = next(path for path in Path(stored.uri).rglob("*") if path.is_file())
    if damage == "delete":
        data_file.unlink()
    else:
        data_file.write_bytes(b"tampered")

    second = _run(sample.cached_pipeline, owner, broker, size=FILE_BACKED_SIZE)

    assert second.steps.get(name="cached_source").status == S.COMPLETED
    assert calls().count("cached_source") == 2
    # The downstream step's input is a new version, so it runs again too.
    assert second.steps.get(name="cached_sum").status == S.COMPLETED


def test_disabling_the_cache_runs_every_step(owner, broker, calls):
    _run(sample.cached_pipeline, owner, broker, size=4)
    second = _run(sample.cached_pipeline.with_options(enable_cache=False), owner, broker, size=4)

    assert _statuses(second) == {"cached_source": "completed", "cached_sum": "completed"}


# --- retries -----------------------------------------------------------------------------
def test_a_failing_step_is_retried_and_every_attempt_is_recorded(owner, broker):
    run = pipeline_run_create(spec=sample.flaky_pipeline.compile(failures=2), user=owner)
    broker.drain()
    flaky = run.steps.get(name="flaky")
    assert flaky.status == S.RETRYING
    assert flaky.retry_at is not None

    for _ in range(2):
        assert step_runs_release_due_retries(now=timezone.now() + timedelta(seconds=1)) == [flaky.id]
        broker.drain()

    flaky.refresh_from_db()
    run.refresh_from_db()
    assert flaky.status == S.COMPLETED
    assert flaky.failure_count == 2
    assert [(a.number, a.outcome) for a in flaky.attempts.all()] == [
        (1, AttemptOutcome.FAILED),
        (2, AttemptOutcome.FAILED),
        (3, AttemptOutcome.COMPLETED),
    ]
    assert "flaky failure on attempt 2" in flaky.attempts.get(number=2).error
    assert run.status == RunStatus.COMPLETED
    assert run.steps.get(name="total").output_links.get().artifact_version.size > 0


def test_a_step_that_keeps_failing_fails_after_its_retries(owner, broker):
    run = pipeline_run_create(spec=sample.flaky_pipeline.compile(failures=5), user=owner)
    broker.drain()
    for _ in range(2):
        step_runs_release_due_retries(now=timezone.now() + timedelta(seconds=1))
        broker.drain()

    run.refresh_from_db()
    assert _statuses(run)["flaky"] == S.FAILED
    assert _statuses(run)["total"] == S.SKIPPED
    assert run.status == RunStatus.FAILED
    assert run.steps.get(name="flaky").attempts.count() == 3


def test_a_retry_waits_for_its_delay(owner, broker):
    spec = sample.flaky_pipeline.compile(failures=1)
    flaky_spec = next(step for step in spec["steps"] if step["name"] == "flaky")
    flaky_spec["retry"] = {"max_retries": 3, "delay": 10, "backoff": 3}
    run = pipeline_run_create(spec=spec, user=owner)
    broker.drain()
    flaky = run.steps.get(name="flaky")

    failed_at = flaky.attempts.get(number=1).finished_at
    assert 9.5 <= (flaky.retry_at - failed_at).total_seconds() <= 10.5
    assert step_runs_release_due_retries(now=timezone.now() + timedelta(seconds=5)) == []
    assert StepRun.objects.get(id=flaky.id).status == S.RETRYING
    assert step_runs_release_due_retries(now=timezone.now() + timedelta(seconds=11)) == [flaky.id]


def test_a_non_retryable_error_fails_the_step_at_once(owner, broker):
    run = _run(sample.refusing_pipeline, owner, broker)

    step = run.steps.get(name="refuses")
    assert step.status == S.FAILED
    assert step.attempts.count() == 1
    assert "NonRetryableError: bad input" in step.error


# --- crashed workers -------------------------------------------------------------------------
def _claim_and_go_silent(run: PipelineRun, name: str, broker: FakeBroker) -> StepRun:
    step = run.steps.get(name=name)
    broker.sent.remove(step.id)
    step_run_claim(step_run_id=step.id, worker="doomed")
    StepRun.objects.filter(id=step.id).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    return step


def test_the_reaper_retries_a_silent_step_then_fails_it_with_worker_lost(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    for expected_crashes in (1, 2):
        step = _claim_and_go_silent(run, "load", broker)
        assert step_runs_reap_crashed(timeout=60, crash_budget=2) == [step.id]
        step.refresh_from_db()
        assert step.status == S.QUEUED
        assert step.crash_count == expected_crashes
        assert broker.sent == [step.id]

    step = _claim_and_go_silent(run, "load", broker)
    step_runs_reap_crashed(timeout=60, crash_budget=2)

    step.refresh_from_db()
    run.refresh_from_db()
    assert step.status == S.FAILED
    assert step.error.startswith("worker lost")
    assert [a.outcome for a in step.attempts.all()] == [AttemptOutcome.CRASHED] * 3
    assert run.status == RunStatus.FAILED
    assert _statuses(run)["total"] == S.SKIPPED


def test_the_reaper_leaves_a_heartbeating_step_alone(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=step.id, worker="alive")
    assert step_run_heartbeat(step_run_id=step.id, attempt=attempt)

    assert step_runs_reap_crashed(timeout=60, crash_budget=2) == []
    assert StepRun.objects.get(id=step.id).status == S.RUNNING


def test_a_reaped_attempt_can_no_longer_heartbeat_or_finish(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = _claim_and_go_silent(run, "load", broker)
    step_runs_reap_crashed(timeout=60, crash_budget=2)

    assert not step_run_heartbeat(step_run_id=step.id, attempt=1)
    assert not step_run_complete(
        step_run_id=step.id, attempt=1, inputs={}, outputs=[], timings=StepTimings(None, None), logs="late"
    )
    broker.drain()  # the retry runs as attempt 2 and wins
    step.refresh_from_db()
    assert step.status == S.COMPLETED
    assert step.attempt == 2
    assert ArtifactVersion.objects.filter(producer_step_run=step, status=ArtifactVersionStatus.READY).count() == 1


def test_the_reaper_removes_what_a_lost_attempt_wrote_to_its_unreserved_outputs(owner, broker):
    # A small output is never reserved as a pending version (its version is created
    # with the step's end), so the cleanup of pending versions cannot find the copy a
    # lost attempt left in its output's folder, nor files its code wrote there.
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = _claim_and_go_silent(run, "load", broker)
    store = artifact_store()
    folder = Path(store.resolve(store.uri_for(run_id=run.id, step_run_id=step.id, attempt=1, output_index=0)))
    folder.mkdir(parents=True)
    (folder / "data.json").write_text("[1, 2]")
    # Another attempt's folder (the retry's, say) is left alone.
    retry = Path(store.resolve(store.uri_for(run_id=run.id, step_run_id=step.id, attempt=2, output_index=0)))
    retry.mkdir(parents=True)

    assert step_runs_reap_crashed(timeout=60, crash_budget=2) == [step.id]

    assert not folder.exists()
    assert retry.exists()


def test_a_queued_step_whose_message_was_lost_is_sent_again(owner, broker):
    # The broker never hears of the run: publishing fails after commit.
    broker.down()
    pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = StepRun.objects.get(name="load")
    assert load.status == S.QUEUED
    assert load.dispatched_at is None

    broker.up()
    assert step_runs_redispatch_lost(grace=30) == []  # too recent to tell
    assert step_runs_redispatch_lost(grace=30, now=timezone.now() + timedelta(seconds=31)) == [load.id]

    assert broker.sent == [load.id]
    assert StepRun.objects.get(id=load.id).dispatched_at is not None


def test_a_dispatched_step_is_not_sent_again(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    assert run.steps.get(name="load").dispatched_at is not None
    assert step_runs_redispatch_lost(grace=0, now=timezone.now() + timedelta(seconds=60)) == []


# --- stopping ----------------------------------------------------------------------------------
def test_stopping_a_run_before_it_starts_stops_every_step(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    run = pipeline_run_stop(run=run)

    assert run.status == RunStatus.STOPPED
    assert set(_statuses(run).values()) == {S.STOPPED}
    broker.drain()  # the message already sent finds nothing to do
    assert set(_statuses(run).values()) == {S.STOPPED}


def test_stopping_lets_a_running_step_finish_and_then_ends_the_run(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    broker.sent.clear()

    run = pipeline_run_stop(run=run)
    assert run.status == RunStatus.STOPPING
    assert _statuses(run) == {"load": S.RUNNING, "total": S.STOPPED}

    step_run_complete(
        step_run_id=load.id, attempt=attempt, inputs={}, outputs=[], timings=StepTimings(None, None), logs=""
    )
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED
    assert broker.sent == []


def test_stopping_a_finished_run_changes_nothing(owner, broker):
    run = _run(sample.numbers_pipeline, owner, broker, scale=1)

    assert pipeline_run_stop(run=run).status == RunStatus.COMPLETED


# --- artifact integrity ----------------------------------------------------------------------
def test_pending_versions_of_a_finished_attempt_are_cleaned_up_with_their_files(owner, broker, settings):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    uri = str(
        Path(settings.PIPELINES["ARTIFACT_STORE"]) / "runs" / str(run.id) / "steps" / str(load.id) / "attempt-1" / "0"
    )
    reserved = artifact_versions_reserve(
        step_run_id=load.id, attempt=attempt, outputs=[PendingOutput(name="numbers", artifact_name="numbers", uri=uri)]
    )
    Path(uri).mkdir(parents=True)
    (Path(uri) / "partial.json").write_text("[1, 2")

    assert artifact_versions_cleanup_abandoned() == 0  # its attempt is still running
    StepRun.objects.filter(id=load.id).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    step_runs_reap_crashed(timeout=60, crash_budget=2)

    assert artifact_versions_cleanup_abandoned() == 1
    assert not ArtifactVersion.objects.filter(id=reserved["numbers"]).exists()
    assert not Path(uri).exists()


def test_pending_versions_are_invisible_to_the_api(api, owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    step_run_claim(step_run_id=load.id, worker="w")
    artifact_versions_reserve(
        step_run_id=load.id, attempt=1, outputs=[PendingOutput(name="numbers", artifact_name="numbers", uri="/tmp/x")]
    )

    assert api.get("/api/v1/artifact-versions/").json()["count"] == 0


def test_cleanup_decides_which_attempts_are_alive_in_one_statement(owner, broker, django_assert_num_queries):
    # Two reads (running steps, then pending versions) once let a step claimed between
    # them lose the files it was writing; one SELECT leaves no gap for that.
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    artifact_versions_reserve(
        step_run_id=load.id,
        attempt=attempt,
        outputs=[PendingOutput(name="numbers", artifact_name="numbers", uri="/tmp/x")],
    )

    with django_assert_num_queries(1):
        assert artifact_versions_cleanup_abandoned() == 0


def test_pending_versions_of_an_earlier_attempt_are_cleaned_while_a_newer_one_runs(owner, broker, settings):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    root = Path(settings.PIPELINES["ARTIFACT_STORE"]) / "runs" / str(run.id) / "steps" / str(load.id)
    old_uri, new_uri = str(root / "attempt-1" / "0"), str(root / "attempt-2" / "0")
    old = artifact_versions_reserve(
        step_run_id=load.id,
        attempt=attempt,
        outputs=[PendingOutput(name="numbers", artifact_name="numbers", uri=old_uri)],
    )
    StepRun.objects.filter(id=load.id).update(attempt=attempt + 1)
    new = artifact_versions_reserve(
        step_run_id=load.id,
        attempt=attempt + 1,
        outputs=[PendingOutput(name="numbers", artifact_name="numbers", uri=new_uri)],
    )
    for uri in (old_uri, new_uri):
        Path(uri).mkdir(parents=True)

    assert artifact_versions_cleanup_abandoned() == 1
    assert not ArtifactVersion.objects.filter(id=old["numbers"]).exists()
    assert ArtifactVersion.objects.filter(id=new["numbers"]).exists()
    assert not Path(old_uri).exists()
    assert Path(new_uri).exists()
