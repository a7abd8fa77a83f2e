"""Cache hits resolved where steps become ready: what a reused step carries over."""

from __future__ import annotations

from typing import Annotated

import pytest

from pipelines import ArtifactConfig, Model, log_metadata, pipeline, step
from pipelines.models import ArtifactKind, PipelineRun, RunMetadata, StepStatus
from pipelines.services.runs import pipeline_run_create

pytestmark = pytest.mark.django_db(transaction=True)


@step
def training_data() -> Annotated[list[float], "dataset"]:
    return [0.1, 0.2, 0.3]


@step
def train(dataset: list[float]) -> Annotated[dict, ArtifactConfig(name="classifier", is_model_artifact=True)]:
    log_metadata({"accuracy": 0.91})
    return {"weights": dataset}


@pipeline(name="cached_training", model=Model(name="cached_classifier"))
def cached_training():
    train(training_data())


@step(model=Model(name="cached_scorer"))
def score(dataset: list[float]) -> Annotated[dict, ArtifactConfig(name="scorer", is_model_artifact=True)]:
    return {"bias": sum(dataset)}


@pipeline(name="cached_step_model")
def cached_step_model():
    score(training_data())


def _run(pipeline_, owner, broker) -> PipelineRun:
    run = pipeline_run_create(spec=pipeline_.compile(), user=owner)
    broker.drain()
    run.refresh_from_db()
    return run


def _links(model_version) -> dict[str, str]:
    return {link.artifact_version.artifact.name: link.kind for link in model_version.artifact_links.all()}


def test_a_cached_run_links_the_reused_model_output_to_its_version_as_a_model(owner, broker):
    first = _run(cached_training, owner, broker)
    second = _run(cached_training, owner, broker)

    assert second.steps.get(name="train").status == StepStatus.CACHED
    assert second.model_version_id != first.model_version_id
    assert _links(second.model_version) == {"dataset": ArtifactKind.DATA, "classifier": ArtifactKind.MODEL}
    assert second.model_version.artifact_links.get(kind=ArtifactKind.MODEL).artifact_version_id == (
        first.model_version.artifact_links.get(kind=ArtifactKind.MODEL).artifact_version_id
    )


def test_a_cached_step_with_its_own_model_links_to_its_own_version(owner, broker):
    _run(cached_step_model, owner, broker)
    second = _run(cached_step_model, owner, broker)

    scored = second.steps.get(name="score")
    assert scored.status == StepStatus.CACHED
    assert (scored.model_version.model.name, scored.model_version.number) == ("cached_scorer", 2)
    assert _links(scored.model_version) == {"scorer": ArtifactKind.MODEL}


def test_a_cached_step_run_carries_its_sources_step_metadata(owner, broker):
    first = _run(cached_training, owner, broker)
    second = _run(cached_training, owner, broker)

    original, reused = first.steps.get(name="train"), second.steps.get(name="train")
    assert reused.cached_from_id == original.id
    assert list(RunMetadata.objects.filter(step_run=reused).values_list("key", "value")) == [("accuracy", 0.91)]
    # A third run's source is the cached one: the value keeps travelling.
    third = _run(cached_training, owner, broker)
    assert list(RunMetadata.objects.filter(step_run__in=third.steps.all()).values_list("key", "value")) == [
        ("accuracy", 0.91)
    ]
