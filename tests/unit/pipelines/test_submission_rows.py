"""What a submission stores, now that it is cheaper: step rows written by COPY on
PostgreSQL equal the ORM's, a version's run options are read without its spec, and a
failed submission still stores nothing. Run these on PostgreSQL too:
`DATABASE_URL=postgres://... pytest tests/unit/pipelines/test_submission_rows.py`."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines.models import ModelVersion, Pipeline, PipelineRun, PipelineVersion, StepRun, StepStatus
from pipelines.sdk.spec import SpecError
from pipelines.services import runs
from pipelines.services.pipeline_versions import pipeline_version_find, pipeline_version_record
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

AWKWARD = "tab\there, newline\nthere, back\\slash, quote ' \" , unicode é 漢, \\N"


def _columns(run: PipelineRun) -> list[dict]:
    rows = StepRun.objects.filter(pipeline_run=run).order_by("name").values()
    return [{k: v for k, v in row.items() if k not in ("id", "pipeline_run_id")} for row in rows]


def _step_rows(run: PipelineRun, model_version: ModelVersion | None) -> list[dict]:
    return [
        {
            "pipeline_run_id": run.id,
            "name": f"step_{index}",
            "source": "module:function",
            "code_hash": "a" * 64,
            "parameters": {"text": AWKWARD, "nested": [1, 2.5, None, True, {"k": AWKWARD}]},
            "spec": {"name": f"step_{index}", "inputs": {}, "after": [], "extra": {"note": AWKWARD}},
            "upstream": [] if index == 0 else ["step_0"],
            "status": StepStatus.PENDING,
            "model_version_id": model_version.id if model_version and index else None,
            "queue": "gpu" if index else "celery",
        }
        for index in range(3)
    ]


def test_step_rows_are_stored_as_the_orm_would_store_them(owner):
    pipeline = Pipeline.objects.create(name="rows")
    first = PipelineRun.objects.create(pipeline=pipeline, name="first", spec={})
    second = PipelineRun.objects.create(pipeline=pipeline, name="second", spec={})
    model_version = ModelVersion.objects.first()

    runs._insert_step_rows(_step_rows(first, model_version))
    StepRun.objects.bulk_create([StepRun(**row) for row in _step_rows(second, model_version)])

    assert _columns(first) == _columns(second)
    assert len(_columns(first)) == 3
    assert StepRun.objects.get(pipeline_run=first, name="step_1").parameters["nested"][4]["k"] == AWKWARD


def test_a_submission_counts_its_step_insert_as_one_statement(owner):
    pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)  # the version exists now
    with CaptureQueriesContext(connection) as queries:
        pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)

    # Django logs an executemany (SQLite) as "<n> times: INSERT ..."; the COPY
    # (PostgreSQL) is logged by `_insert_step_rows` itself.
    table = StepRun._meta.db_table
    inserts = [q["sql"] for q in queries if f'INSERT INTO "{table}"' in q["sql"] or q["sql"].startswith("COPY")]
    assert len(inserts) == 1, [q["sql"][:100] for q in queries]


def test_a_submission_that_fails_after_its_steps_are_written_stores_nothing(owner, monkeypatch):
    def refuse(*, run: PipelineRun) -> None:
        assert StepRun.objects.filter(pipeline_run=run).count() == 2  # written, then rolled back
        raise RuntimeError("the broker bookkeeping failed")

    monkeypatch.setattr(runs, "step_runs_advance", refuse)

    with pytest.raises(RuntimeError, match="bookkeeping"):
        pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)

    assert (Pipeline.objects.count(), PipelineRun.objects.count(), StepRun.objects.count()) == (0, 0, 0)
    assert PipelineVersion.objects.count() == 0


def test_an_invalid_spec_stores_nothing(owner):
    spec = sample.numbers_pipeline.compile(scale=1)
    spec["steps"][0]["after"] = ["total"]

    with pytest.raises(SpecError, match="cycle"):
        pipeline_run_create(spec=spec, user=owner)

    assert (Pipeline.objects.count(), PipelineRun.objects.count(), StepRun.objects.count()) == (0, 0, 0)


def test_a_known_version_is_found_without_reading_its_spec_and_saved_only_when_its_options_change(owner):
    first = pipeline_run_create(spec=tp.words_pipeline.with_options(tags=["a"], extra={"n": 1}).compile(), user=owner)
    version = PipelineVersion.objects.get(id=first.pipeline_version_id)
    same = pipeline_run_create(spec=tp.words_pipeline.with_options(tags=["a"], extra={"n": 1}).compile(), user=owner)
    spec, pipeline = same.spec, Pipeline.objects.get(id=first.pipeline_id)

    with CaptureQueriesContext(connection) as unchanged:
        found = pipeline_version_record(pipeline=pipeline, spec=spec, user=owner)
    assert found.id == version.id
    assert len(unchanged) == 1  # no save
    assert "spec" in found.get_deferred_fields()

    changed = dict(
        spec, tags=["b"], extra={"n": 2}, run_name_template="x-{time}", enable_cache=not spec["enable_cache"]
    )
    with CaptureQueriesContext(connection) as saved:
        assert pipeline_version_record(pipeline=pipeline, spec=changed, user=owner).id == version.id
    assert any(q["sql"].startswith("UPDATE") for q in saved)
    stored = PipelineVersion.objects.get(id=version.id).spec
    assert (stored["tags"], stored["extra"], stored["run_name_template"], stored["enable_cache"]) == (
        ["b"],
        {"n": 2},
        "x-{time}",
        not spec["enable_cache"],
    )
    assert stored["steps"] == version.spec["steps"]

    without_tags = {key: value for key, value in changed.items() if key != "tags"}
    pipeline_version_record(pipeline=pipeline, spec=without_tags, user=owner)
    assert "tags" not in PipelineVersion.objects.get(id=version.id).spec


def test_a_pipeline_run_again_from_unchanged_code_finds_its_version_and_pipeline_in_one_statement(owner):
    first = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    spec = sample.numbers_pipeline.compile(scale=2)  # another value: the same version

    with CaptureQueriesContext(connection) as queries:
        found = pipeline_version_find(pipeline_name="numbers_pipeline", spec=spec)
        assert found is not None
        assert (found.id, found.pipeline.name) == (first.pipeline_version_id, "numbers_pipeline")
    assert len(queries) == 1

    changed = sample.numbers_pipeline.with_options(steps={"load": {"timeout": 5}}).compile(scale=2)
    assert pipeline_version_find(pipeline_name="numbers_pipeline", spec=changed) is None
    assert pipeline_version_find(pipeline_name="other", spec=spec) is None
    second = pipeline_run_create(spec=changed, user=owner)
    assert second.pipeline_id == first.pipeline_id
    assert second.pipeline_version_id != first.pipeline_version_id
