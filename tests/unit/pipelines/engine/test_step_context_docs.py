"""ZenML's "Fetch metadata within steps" page, run as written (zenml -> pipelines) by the
in-process engine: its step has no output annotation."""

from __future__ import annotations

import pytest

from pipelines import get_step_context, pipeline, step
from pipelines.engine.executor import step_run_execute
from pipelines.models import StepStatus
from pipelines.sdk.materializers import BaseMaterializer
from pipelines.services.runs import pipeline_run_create

SEEN: dict[str, object] = {}


@step
def my_step():
    step_context = get_step_context()
    pipeline_name = step_context.pipeline.name
    run_name = step_context.pipeline_run.name
    step_name = step_context.step_run.name
    # Get the URI where the output will be saved.
    uri = step_context.get_output_artifact_uri()

    # Get the materializer that will be used to save the output.
    materializer = step_context.get_output_materializer()
    SEEN.update(names=(pipeline_name, run_name, step_name), uri=uri, materializer=materializer)


@pipeline
def fetch_metadata_pipeline():
    my_step()


@pytest.mark.django_db(transaction=True)
def test_the_docs_step_without_annotation_gets_a_materializer_instance_for_its_output(owner, broker):
    SEEN.clear()
    run = pipeline_run_create(spec=fetch_metadata_pipeline.compile(), user=owner)

    step_run_execute(step_run_id=broker.sent.pop())

    assert run.steps.get().status == StepStatus.COMPLETED
    assert SEEN["names"][0] == "fetch_metadata_pipeline"
    assert SEEN["names"][2] == "my_step"
    assert isinstance(SEEN["materializer"], BaseMaterializer)
    assert SEEN["materializer"].uri == SEEN["uri"]
