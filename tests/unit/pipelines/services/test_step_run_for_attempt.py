"""The worker's plain read of a step run matches the ORM's, value for value."""

from __future__ import annotations

import pytest

from pipelines.models import StepRun
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim, step_run_for_attempt
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
