"""`get_step_context().model` on a real worker: the Model, read and written through the run's token."""

from __future__ import annotations

import pytest

from pipelines import Model, get_step_context, pipeline, step

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@step
def describe_model() -> dict:
    model = get_step_context().model
    model.log_metadata({"accuracy": 0.9})
    return {"name": model.name, "version": model.version, "number": model.number, "stage": model.stage}


@pipeline(model=Model(name="handle_demo", version="v1"), enable_cache=False)
def model_handle_pipeline() -> None:
    describe_model()


def test_the_step_context_model_is_the_model_on_the_worker(running_worker):
    run = model_handle_pipeline()

    assert run.steps["describe_model"].output.load() == {
        "name": "handle_demo",
        "version": "v1",
        "number": 1,
        "stage": "none",
    }
    assert Model(name="handle_demo", version="v1").run_metadata["accuracy"].value == 0.9
