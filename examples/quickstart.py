"""The smallest pipeline: two steps, a named output, a parameter, the step context.

Run it with the server and a worker up (`make demo` starts both):

    .venv/bin/python examples/quickstart.py
"""

from __future__ import annotations

from typing import Annotated

from pipelines import get_step_context, pipeline, step


@step
def load() -> Annotated[list[int], "numbers"]:
    ctx = get_step_context()
    print(ctx.pipeline.name, ctx.pipeline_run.name, ctx.step_run.name)
    print(ctx.get_output_artifact_uri(), ctx.get_output_materializer())
    return [1, 2, 3]


@step
def total(numbers: list[int], scale: int = 1) -> int:
    return sum(numbers) * scale


@pipeline
def numbers_pipeline(scale: int = 2):
    total(load(), scale=scale)


if __name__ == "__main__":
    run = numbers_pipeline(scale=3)  # submits, waits, prints progress
    print(run.status)  # "completed"
