"""Review of the step's input resolution (issue 12): `step_output_versions` builds
ArtifactVersion instances from one plain SELECT with `Model.from_db`, which takes the
values of the fields it is given in the model's own field order, whatever their names
say (as `_lock_run` once did by luck of the order). A field added to the model between
two of `_INPUT_FIELDS`, or the tuple reordered, would give every input wrong values
without an error.
"""

from __future__ import annotations

import pytest

from pipelines.models import ArtifactVersion
from pipelines.services.artifacts import _INPUT_FIELDS, step_output_versions
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_input_fields_are_in_the_models_field_order():
    order = [field.attname for field in ArtifactVersion._meta.concrete_fields]
    assert list(_INPUT_FIELDS) == sorted(_INPUT_FIELDS, key=order.index)


def test_the_plain_read_of_a_runs_outputs_gives_the_orm_values(owner, broker):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)
    broker.drain()
    run.refresh_from_db()
    assert run.status == "completed"

    found = step_output_versions(run_id=run.id, step_names={"load", "total"})

    assert set(found) == {("load", "numbers"), ("total", "output")}
    for (step, output), plain in found.items():
        orm = run.steps.get(name=step).output_links.get(name=output).artifact_version
        assert {name: getattr(plain, name) for name in _INPUT_FIELDS} == {
            name: getattr(orm, name) for name in _INPUT_FIELDS
        }
        assert plain.artifact.name == orm.artifact.name
        assert isinstance(plain.inline_files, dict)
