"""add_tags / remove_tags: the docs' in-step snippets, and the targets not supported yet."""

from __future__ import annotations

from typing import Annotated

import pytest

from pipelines import ArtifactConfig, PipelinesError, StepContextError, add_tags, pipeline, remove_tags, step
from pipelines.models import ArtifactVersion
from pipelines.services.runs import pipeline_run_create


@step
def single_output() -> Annotated[int, "single"]:
    # ZenML's docs: "A step with a single output"
    add_tags(tags=["my_tag"], infer_artifact=True)
    return 1


@step
def several_outputs() -> tuple[
    Annotated[int, "my_output"], Annotated[int, ArtifactConfig(name="other_output", tags=["declared"])]
]:
    # ZenML's docs: "A step with multiple outputs (need to specify the output name)"
    add_tags(tags=["my_tag"], artifact_name="my_output", infer_artifact=True)
    add_tags("kept", artifact_name="other_output", infer_artifact=True)
    add_tags(["dropped"], artifact_name="other_output", infer_artifact=True)
    remove_tags(["dropped", "declared"], artifact_name="other_output", infer_artifact=True)
    return 1, 2


@pipeline(name="tagging_outputs", enable_cache=False)
def tagging_outputs():
    single_output()
    several_outputs()


@pytest.mark.django_db(transaction=True)
def test_a_step_tags_its_outputs_as_the_docs_show(owner, broker):
    run = pipeline_run_create(spec=tagging_outputs.compile(), user=owner)
    broker.drain()

    tags = dict(
        ArtifactVersion.objects.filter(producer_step_run__pipeline_run=run).values_list("artifact__name", "tags")
    )
    # A declared tag belongs to the step's definition: remove_tags takes back only what the step added.
    assert tags == {"single": ["my_tag"], "my_output": ["my_tag"], "other_output": ["declared", "kept"]}


def test_tagging_outside_a_step_without_a_target_says_where_it_works():
    with pytest.raises(StepContextError, match=r"only inside a step.*infer_artifact=True"):
        add_tags(["my_tag"])


@pytest.mark.parametrize(
    "target", [{"run": "my_run"}, {"artifact": "my_artifact"}, {"artifact_version_id": 3}, {"artifact_version": "v1"}]
)
def test_targets_without_tags_yet_are_refused_not_ignored(target):
    with pytest.raises(PipelinesError, match=rf"{next(iter(target))}=\.\.\.\) is not supported yet"):
        remove_tags(["my_tag"], **target)
