"""On a real worker: a training run (a model, save_artifact in a step linked to the run's
model version, metadata and tags from the step), promotion to production, tags from two
clients at once, then an inference run on Model(version="production") that loads the
model artifact, takes an ExternalArtifact value and a registered folder as inputs."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Annotated

import pytest
from django.contrib.auth.models import Permission

from pipelines import (
    ArtifactConfig,
    ExternalArtifact,
    Model,
    add_tags,
    get_step_context,
    log_metadata,
    pipeline,
    register_artifact,
    save_artifact,
    step,
)
from pipelines.client import Client
from pipelines.enums import ModelStages
from pipelines.models import PipelineRun
from pipelines.storage import artifact_store

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@step
def train() -> Annotated[dict, ArtifactConfig(name="it_trained_model", is_model_artifact=True)]:
    save_artifact({"factor": 10}, name="it_scaler", is_model_artifact=True)
    log_metadata({"accuracy": 0.93}, infer_model=True)
    add_tags(["trained-on-worker"])  # no target in a step: the run
    add_tags(["weights"], infer_artifact=True)
    return {"weight": 2}


@pipeline(model=Model(name="it_classifier"), enable_cache=False)
def it_training():
    train()


@step
def predict(model: dict, data: list, folder: Path) -> Annotated[dict, "it_predictions"]:
    context_model = get_step_context().model
    scaler = context_model.load_artifact("it_scaler")
    return {
        "predictions": [x * model["weight"] * scaler["factor"] for x in data],
        "model_version": context_model.version,
        "stage": context_model.stage,
        "folder_note": (folder / "note.txt").read_text(),
    }


@pipeline(model=Model(name="it_classifier", version=ModelStages.PRODUCTION), enable_cache=False)
def it_inference(registered_name: str):
    model = Model(name="it_classifier", version=ModelStages.PRODUCTION)
    predict(
        model=model.get_model_artifact("it_trained_model"),
        data=ExternalArtifact(value=[1, 2, 3]),
        folder=Client().get_artifact_version(registered_name),
    )


def test_train_promote_and_infer_on_the_production_version(running_worker, owner):
    owner.user_permissions.add(*Permission.objects.filter(codename__in=["change_modelversion", "change_mlmodel"]))

    # Training: the step's save_artifact, metadata and tags go through the run's token.
    first = it_training()
    assert first.status == "completed"
    second = it_training()  # a newer version, not promoted
    version = Model(name="it_classifier", version=1)
    assert version.run_metadata["accuracy"].value == 0.93
    assert version.get_model_artifact("it_scaler").load() == {"factor": 10}
    assert version.get_model_artifact("it_trained_model").load() == {"weight": 2}
    assert PipelineRun.objects.get(id=first.id).tags == ["trained-on-worker"]
    assert first.steps["train"].output.tags == ["weights"]

    version.set_stage(ModelStages.PRODUCTION)
    add_tags("champion", model="it_classifier", model_version="production")

    # Two clients tagging the same run at once: every tag sticks.
    def tag_many(prefix: str) -> None:
        for number in range(10):
            add_tags([f"{prefix}{number}"], run=second.id)

    threads = [threading.Thread(target=tag_many, args=(prefix,)) for prefix in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tags = PipelineRun.objects.get(id=second.id).tags
    assert sorted(tags) == sorted(["trained-on-worker", *(f"{p}{n}" for p in "ab" for n in range(10))])

    # A folder written into the store's registered area, registered where it lies.
    folder = Path(artifact_store().root_uri) / "registered" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    (folder / "note.txt").write_text("registered, not copied")
    registered = register_artifact(str(folder), name="it_registered_folder")
    assert registered.uri == str(folder)

    # Inference on whatever version is in production (1, not the newest, 2).
    run = it_inference(registered_name="it_registered_folder")

    assert run.status == "completed"
    assert run.steps["predict"].output.load() == {
        "predictions": [20, 40, 60],
        "model_version": "1",
        "stage": "production",
        "folder_note": "registered, not copied",
    }
    assert Client().get_model_version("it_classifier", "production").tags == ["champion"]
    assert [v.id for v in Client().list_model_versions("it_classifier", tag="champion")] == [version.id]
