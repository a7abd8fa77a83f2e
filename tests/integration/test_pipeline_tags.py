"""On a real worker: a step tags its own pipeline with its run token (ZenML's
add_tags(pipeline=...)), and is refused on another pipeline; the Client then lists
pipelines by tag and reads a run's configuration as ZenML's (`config.extra`)."""

from __future__ import annotations

import pytest

from pipelines import add_tags, get_step_context, pipeline, step
from pipelines.client import Client
from pipelines.models import Pipeline, StepRun
from pipelines.sdk.exceptions import ServerError

pytestmark = pytest.mark.integration


@step
def tags_its_pipeline() -> int:
    context = get_step_context()
    add_tags(["from-step"], pipeline=context.pipeline.name)
    try:
        add_tags(["from-step"], pipeline="it_someone_elses_pipeline")
    except ServerError as exc:  # the run token may not
        refused = exc.status_code == 403
    else:
        refused = False
    assert refused, "a run token tagged a pipeline its run does not belong to"
    return context.pipeline_run.config.extra["trainings"]


@pipeline(enable_cache=False, extra={"trainings": 3})
def it_tagged_pipeline():
    tags_its_pipeline()


def test_a_step_tags_its_own_pipeline_only_and_the_client_finds_it_by_tag(running_worker, owner):
    Pipeline.objects.create(name="it_someone_elses_pipeline")

    run = it_tagged_pipeline()

    step_run = StepRun.objects.get(pipeline_run_id=run.id)
    assert run.status == "completed", step_run.error
    assert Pipeline.objects.get(name="it_tagged_pipeline").tags == ["from-step"]
    assert Pipeline.objects.get(name="it_someone_elses_pipeline").tags == []
    assert run.steps["tags_its_pipeline"].output.load() == 3
    assert Client().get_pipeline_run(run.id).config.extra == {"trainings": 3}

    add_tags("nightly", pipeline="it_tagged_pipeline")  # as its creator, outside a step
    assert [p.name for p in Client().list_pipelines(tag="nightly")] == ["it_tagged_pipeline"]
    assert Client().get_pipeline("it_tagged_pipeline").tags == ["from-step", "nightly"]
