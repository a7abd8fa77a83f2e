"""add_tags / remove_tags: the docs' snippets in a step and outside, on every target."""

from __future__ import annotations

from typing import Annotated

import pytest

from pipelines import (
    ArtifactConfig,
    PipelinesError,
    StepContextError,
    add_tags,
    pipeline,
    remove_tags,
    save_artifact,
    step,
)
from pipelines.models import Artifact, ArtifactVersion, MLModel, ModelVersion, PipelineRun
from pipelines.sdk.client import Client
from pipelines.services.model_versions import model_version_resolve
from pipelines.services.runs import pipeline_run_create
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport


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


@pytest.fixture
def in_process_client(api, monkeypatch):
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))


@step
def tags_its_run() -> Annotated[int, "tagged_run_output"]:
    # ZenML's docs ("Assigning tags to runs"): inside a step, no target tags the run.
    add_tags(tags=["tag_in_step"])
    return 1


@pipeline(name="tagging_the_run", enable_cache=False)
def tagging_the_run():
    tags_its_run()


@pytest.mark.django_db(transaction=True)
def test_a_step_without_a_target_tags_its_run(in_process_client, owner, broker):
    run = pipeline_run_create(spec=tagging_the_run.compile(), user=owner)
    broker.drain()
    assert PipelineRun.objects.get(id=run.id).tags == ["tag_in_step"]


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_the_docs_targets_outside_a_step(in_process_client, owner):
    from django.contrib.auth.models import Permission

    owner.user_permissions.add(*Permission.objects.filter(codename__in=["change_mlmodel", "change_modelversion"]))
    run = pipeline_run_create(spec=tagging_the_run.compile(), user=owner)
    first = save_artifact([1], name="my_output", version="v1")
    second = save_artifact([2], name="my_output")
    model_version = model_version_resolve(spec_model={"name": "my_model"}, user=owner)

    # ZenML's docs ("Tags"), zenml -> pipelines.
    add_tags(tags=["my_tag"], artifact="my_output")
    add_tags(tags=["my_tag"], artifact_name="my_output", artifact_version="v1")
    add_tags(tags=["my_tag"], artifact_version_id=second.id)
    add_tags(tags=["my_tag", "other"], run=run.name)
    add_tags("one", model="my_model")
    add_tags(["two"], model="my_model", model_version="latest")
    remove_tags("other", run=run.id)

    assert Artifact.objects.get(name="my_output").tags == ["my_tag"]
    assert ArtifactVersion.objects.get(id=first.id).tags == ["my_tag"]
    assert ArtifactVersion.objects.get(id=second.id).tags == ["my_tag"]
    assert PipelineRun.objects.get(id=run.id).tags == ["my_tag"]
    assert MLModel.objects.get(name="my_model").tags == ["one"]
    assert ModelVersion.objects.get(id=model_version.id).tags == ["two"]
    # Filterable, as ZenML's Client lists.
    assert [v.id for v in Client().list_artifact_versions(tag="my_tag")] == [second.id, first.id]
    assert [m.name for m in Client().list_models(tag="one")] == ["my_model"]
    assert Client().get_artifact("my_output").tags == ["my_tag"]


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ({"run": "r", "artifact": "a"}, "takes one target; got run and artifact"),
        ({"artifact_version": "v1"}, "needs artifact_name= too"),
        ({"model_version": "latest"}, "needs model="),
        ({"pipeline": "p", "run": "r"}, "takes one target; got pipeline and run"),
    ],
)
def test_targets_given_wrong_say_what_works(target, words):
    with pytest.raises((ValueError, PipelinesError), match=words):
        remove_tags(["my_tag"], **target)
    with pytest.raises(ValueError, match="non-empty strings"):
        add_tags([""], run="r")


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_the_client_adds_and_removes_model_tags_as_zenml_s(in_process_client, owner):
    from django.contrib.auth.models import Permission

    owner.user_permissions.add(*Permission.objects.filter(codename__in=["change_mlmodel", "change_modelversion"]))
    version = model_version_resolve(spec_model={"name": "my_model", "tags": ["old"]}, user=owner)

    # ZenML's docs ("Tags": models and model versions), zenml -> pipelines.
    Client().update_model(model_name_or_id="my_model", add_tags=["experiment", "v1"], remove_tags=["old"])
    updated = Client().update_model_version(
        model_name_or_id="my_model", version_name_or_id=version.name, add_tags=["candidate"]
    )

    assert MLModel.objects.get(name="my_model").tags == ["experiment", "v1"]
    assert updated.tags == ["candidate"]
