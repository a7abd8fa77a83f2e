"""A submission's own statements in plain SQL (the version lookup, the run's insert and
its read back, the dispatch mark) give what the ORM gave. Run these on PostgreSQL too:
`DATABASE_URL=postgres://... pytest tests/unit/pipelines/services/test_submission_statements.py`."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipelines.dispatch import enqueue_steps_on_commit
from pipelines.models import Pipeline, PipelineRun, PipelineVersion, StepRun
from pipelines.services.pipeline_versions import pipeline_version_find, pipeline_version_record
from pipelines.services.runs import pipeline_run_create
from tests.unit import trigger_pipelines as tp
from tests.unit import wide_steps

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

# Run options of every JSON kind, and strings that look like other kinds.
OPTIONS = {
    "tags": ["1", "true", "null"],
    "extra": {"n": 1, "f": 2.5, "b": False, "none": None, "s": "x", "list": [1, "2"]},
    "settings": {"resources": {"cpu_count": 2}},
}


def _spec(run_name_template: str = "2024", **params: object) -> dict:
    spec = tp.words_pipeline.with_options(**OPTIONS).compile(**params)
    spec["run_name_template"] = run_name_template
    return spec


def _columns(instance, fields) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in fields}


def test_the_version_lookup_reads_what_the_orm_reads(owner):
    first = pipeline_run_create(spec=_spec(), user=owner)
    spec = _spec(word="other")

    with CaptureQueriesContext(connection) as queries:
        found = pipeline_version_find(pipeline_name="words_pipeline", spec=spec)
        assert found is not None
        pipeline = found.pipeline
    assert len(queries) == 1  # the version and its pipeline; unchanged options: no save

    expected = PipelineVersion.objects.select_related("pipeline").get(id=first.pipeline_version_id)
    version_fields = [field for field in PipelineVersion._meta.concrete_fields if field.name != "spec"]
    assert _columns(found, version_fields) == _columns(expected, version_fields)
    assert _columns(pipeline, Pipeline._meta.concrete_fields) == _columns(
        expected.pipeline, Pipeline._meta.concrete_fields
    )
    assert found.get_deferred_fields() == {"spec"}
    assert found.spec == expected.spec  # read when asked for


def test_options_that_look_like_numbers_or_booleans_are_compared_as_they_are(owner):
    # SQLite's JSON_EXTRACT gave the ORM 2024 for "2024": every such submission saved
    # the version again.
    pipeline_run_create(spec=_spec(), user=owner)
    spec = _spec(word="again")
    pipeline = Pipeline.objects.get(name="words_pipeline")

    with CaptureQueriesContext(connection) as queries:
        pipeline_version_find(pipeline_name="words_pipeline", spec=spec)
        pipeline_version_record(pipeline=pipeline, spec=spec, user=owner)
    assert not [query["sql"] for query in queries if query["sql"].startswith("UPDATE")]


def test_an_option_changed_to_another_kind_or_dropped_is_saved(owner):
    first = pipeline_run_create(spec=_spec(), user=owner)
    spec = _spec("x-{time}")
    spec["extra"] = {**spec["extra"], "b": 0}
    del spec["settings"]

    found = pipeline_version_find(pipeline_name="words_pipeline", spec=spec)

    stored = PipelineVersion.objects.get(id=first.pipeline_version_id).spec
    assert found is not None
    assert found.id == first.pipeline_version_id
    assert stored["run_name_template"] == "x-{time}"
    assert stored["extra"]["b"] == 0
    assert stored["extra"]["b"] is not False
    assert "settings" not in stored


def test_an_unknown_pipeline_or_shape_finds_nothing(owner):
    pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)

    assert pipeline_version_find(pipeline_name="other", spec=tp.words_pipeline.compile()) is None
    changed = tp.words_pipeline.with_options(steps={"shout": {"timeout": 30}}).compile()
    assert pipeline_version_find(pipeline_name="words_pipeline", spec=changed) is None


def test_the_new_run_is_what_the_database_holds_with_its_pipeline_and_user_loaded(owner):
    pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)

    run = pipeline_run_create(spec=_spec(word="x"), user=owner)

    stored = PipelineRun.objects.get(id=run.id)
    fields = [field for field in PipelineRun._meta.concrete_fields if field.name != "spec"]
    assert _columns(run, fields) == _columns(stored, fields)
    assert stored.spec["extra"] == OPTIONS["extra"]
    assert run.revision > 0  # bumped once its first step was queued: read back
    assert not run._state.adding
    assert run._state.db == "default"
    # Set by the submission and kept for its answer; the version is read when asked for.
    with CaptureQueriesContext(connection) as queries:
        assert (run.pipeline.name, run.triggered_by) == ("words_pipeline", owner)
    assert len(queries) == 0
    assert not PipelineRun.pipeline_version.field.is_cached(run)
    assert run.pipeline_version.id == stored.pipeline_version_id


def test_a_taken_run_name_gets_the_next_suffix_without_a_savepoint(owner):
    spec = tp.words_pipeline.compile()
    spec["run_name_template"] = "nightly"
    pipeline_run_create(spec=spec, user=owner)

    with CaptureQueriesContext(connection) as queries:
        again = pipeline_run_create(spec=spec, user=owner)

    assert again.name == "nightly_2"
    statements = [query["sql"] for query in queries]
    # Only the submission's own transaction (a savepoint within the test's).
    assert [sql.split()[0] for sql in statements if "SAVEPOINT" in sql] == ["SAVEPOINT", "RELEASE"]
    assert len([sql for sql in statements if sql.startswith("INSERT")]) == 2  # "nightly", then "nightly_2"


def test_a_submission_of_a_known_pipeline_takes_nine_statements(owner):
    pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)

    with CaptureQueriesContext(connection) as queries:
        pipeline_run_create(spec=tp.words_pipeline.compile(word="x"), user=owner)

    # BEGIN (a savepoint within the test's transaction), the version, the run, its
    # steps (COPY or an insert), the steps read, the first step queued, the revision,
    # COMMIT, the run read back. (The dispatch mark follows the commit.)
    assert len(queries) == 9, [query["sql"][:80] for query in queries]


def test_the_dispatch_mark_is_set_once_on_the_steps_sent(owner, django_capture_on_commit_callbacks):
    run = pipeline_run_create(spec=wide_steps.three_roots.compile(), user=owner)
    roots = list(run.steps.filter(name__startswith="root").order_by("id").values_list("id", flat=True))
    earlier = timezone.now() - timezone.timedelta(minutes=5)
    StepRun.objects.filter(id=roots[0]).update(dispatched_at=earlier)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        enqueue_steps_on_commit(roots, queue="pipelines")

    marks = dict(StepRun.objects.filter(id__in=roots).values_list("id", "dispatched_at"))
    assert marks[roots[0]] == earlier
    assert all(marks[step_id] is not None and marks[step_id] > earlier for step_id in roots[1:])
    assert StepRun.objects.filter(pipeline_run=run).exclude(id__in=roots).filter(dispatched_at=None).exists()
