"""The worker's plain reads of a step run (and its run) match the ORM's, value for value."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines.models import StepRun
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim, step_run_for_attempt, step_run_with_run
from tests.integration import sample_pipelines as sample

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_plain_read_of_a_claimed_step_gives_the_orm_values_but_the_log(owner, broker):
    run = pipeline_run_create(spec=sample.split_pipeline.compile(values=[1, 2, 3]), user=owner)
    step = run.steps.get(name="marker")
    step_run_claim(step_run_id=step.id, worker="w", cache_key="k")
    StepRun.objects.filter(id=step.id).update(logs="a long log")

    plain, orm = step_run_for_attempt(step.id), StepRun.objects.get(id=step.id)

    fields = [field.attname for field in StepRun._meta.concrete_fields if field.name != "logs"]
    assert {name: getattr(plain, name) for name in fields} == {name: getattr(orm, name) for name in fields}
    assert plain.started_at is not None
    assert plain.started_at.tzinfo is not None
    assert isinstance(plain.spec, dict)
    assert plain.spec["name"] == "marker"
    assert "logs" in plain.get_deferred_fields()


def test_reading_a_step_run_that_does_not_exist_says_so(owner, broker):
    with pytest.raises(StepRun.DoesNotExist):
        step_run_for_attempt(10**9)


def test_the_plain_read_of_a_delivered_step_gives_its_run_and_pipeline_as_the_orm_does(owner, broker):
    run = pipeline_run_create(spec=sample.split_pipeline.compile(values=[1, 2, 3]), user=owner)
    step = run.steps.get(name="marker")

    with CaptureQueriesContext(connection) as queries:
        plain = step_run_with_run(step.id)
        plain_run, plain_pipeline = plain.pipeline_run, plain.pipeline_run.pipeline
    orm = StepRun.objects.select_related("pipeline_run__pipeline").get(id=step.id)

    assert len(queries) == 1
    for instance, expected, deferred in (
        (plain, orm, "logs"),
        (plain_run, orm.pipeline_run, "spec"),
        (plain_pipeline, orm.pipeline_run.pipeline, None),
    ):
        fields = [field.attname for field in type(expected)._meta.concrete_fields if field.name != deferred]
        assert {name: getattr(instance, name) for name in fields} == {name: getattr(expected, name) for name in fields}
        assert instance.get_deferred_fields() == ({deferred} if deferred else set())
    assert plain_run.created_at.tzinfo is not None
    assert isinstance(plain_run.config, dict)


def test_reading_a_delivered_step_run_that_does_not_exist_says_so(owner, broker):
    with pytest.raises(StepRun.DoesNotExist):
        step_run_with_run(10**9)
