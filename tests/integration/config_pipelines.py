"""A pipeline configured from a YAML file, run by a real worker (workers import steps
by module path, so it lives in an importable module)."""

from __future__ import annotations

from pipelines import get_pipeline_context, get_step_context, pipeline, step


@step
def load_data(dataset_name: str, rows: int = 2) -> list[str]:
    return [f"{dataset_name}-{index}" for index in range(rows)]


@step
def train_model(data: list[str], learning_rate: float = 0.1) -> dict:
    context = get_step_context()
    return {"rows": len(data), "learning_rate": learning_rate, "step": context.step_run.name}


@pipeline
def configured_training(dataset_name: str):
    data = load_data(dataset_name)
    # The body reads its configuration: a YAML file's `extra:` decides how many trainings.
    for index in range(get_pipeline_context().extra.get("trainings", 1)):
        train_model(data, id=f"train_model_{index}")
