"""The reaper's actions that leave no row (re-sent messages, released retries, removed
abandoned files...) are counted in shared counter rows, and /metrics exposes them as
`pipelines_reaper_actions_total{action=...}`."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import IntegrityError

from pipelines.models import EventCounter, ReaperAction
from pipelines.selectors.metrics import reaper_actions
from pipelines.services import counters, reaper
from pipelines.services.artifacts import PendingOutput, artifact_versions_reserve
from pipelines.services.counters import event_counter_add
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim
from tests.integration import sample_pipelines as sample
from tests.unit.pipelines.test_metrics import metrics_on, samples, scrape  # noqa: F401 (metrics_on: a fixture)

pytestmark = pytest.mark.django_db


def value(name: str) -> int | None:
    return EventCounter.objects.filter(name=name).values_list("value", flat=True).first()


def test_a_counter_is_made_by_its_first_increment_and_added_to_after():
    event_counter_add(name="things")
    event_counter_add(name="things", by=4)
    event_counter_add(name="things", by=0)

    assert value("things") == 5
    assert EventCounter.objects.count() == 1


def test_an_increment_of_nothing_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        event_counter_add(name="things", by=0)
    assert value("things") is None


def test_a_counter_made_by_another_process_between_the_update_and_the_insert_keeps_both_counts(monkeypatch):
    real_atomic = counters.transaction.atomic

    def another_process_was_first(*args, **kwargs):
        if args or kwargs:  # Django's own use (bulk_create below)
            return real_atomic(*args, **kwargs)
        monkeypatch.setattr(counters.transaction, "atomic", real_atomic)
        EventCounter.objects.bulk_create([EventCounter(name="things", value=10)])
        return real_atomic()

    monkeypatch.setattr(counters.transaction, "atomic", another_process_was_first)

    event_counter_add(name="things", by=3)

    assert value("things") == 13


def test_each_action_of_a_reaper_pass_adds_one_to_its_counter(monkeypatch, settings):
    monkeypatch.setattr(reaper, "step_runs_reap_crashed", lambda **kwargs: [1])
    monkeypatch.setattr(reaper, "step_runs_release_due_retries", lambda **kwargs: [2, 3])
    monkeypatch.setattr(reaper, "step_runs_redispatch_lost", lambda **kwargs: [4])
    monkeypatch.setattr(reaper, "step_runs_resend_unclaimed", lambda **kwargs: [5, 6, 7])
    monkeypatch.setattr(reaper, "pipeline_runs_advance_stalled", lambda **kwargs: [])

    reaper.reap_once()
    reaper.reap_once()

    assert reaper_actions() == {
        "resent": 6,
        "redispatched": 2,
        "retry_released": 4,
        "abandoned_removed": 0,
        "run_advanced": 0,
    }
    assert value("reaper.crashed") is None  # crashes are counted from their attempts


def test_removing_an_abandoned_versions_files_counts_once(owner, broker, settings):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    uri = str(Path(settings.PIPELINES["ARTIFACT_STORE"]) / "runs" / str(run.id) / "steps" / str(load.id) / "a1" / "0")
    artifact_versions_reserve(
        step_run_id=load.id, attempt=attempt, outputs=[PendingOutput(name="numbers", artifact_name="numbers", uri=uri)]
    )
    Path(uri).mkdir(parents=True)
    load.status = "failed"
    load.save(update_fields=["status"])

    assert reaper.artifact_versions_cleanup_abandoned() == 1
    assert reaper.artifact_versions_cleanup_abandoned() == 0
    assert value(ReaperAction.ABANDONED_REMOVED.counter) == 1


@pytest.mark.usefixtures("no_broker", "metrics_on")
def test_metrics_expose_every_reaper_action_with_its_count():
    event_counter_add(name=ReaperAction.RESENT.counter, by=3)
    event_counter_add(name=ReaperAction.RETRY_RELEASED.counter)

    status, text, _ = scrape()

    assert status == 200
    found = samples(text)
    assert found[("pipelines_reaper_actions_total", (("action", "resent"),))] == 3
    assert found[("pipelines_reaper_actions_total", (("action", "retry_released"),))] == 1
    assert found[("pipelines_reaper_actions_total", (("action", "abandoned_removed"),))] == 0
    assert {labels for name, labels in found if name == "pipelines_reaper_actions_total"} == {
        (("action", action.value),) for action in ReaperAction
    }


def test_the_counter_names_do_not_collide():
    assert len({action.counter for action in ReaperAction}) == len(ReaperAction)
    with pytest.raises(IntegrityError):
        EventCounter.objects.bulk_create([EventCounter(name="x"), EventCounter(name="x")])
