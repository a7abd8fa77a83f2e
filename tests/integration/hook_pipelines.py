"""Pipelines with hooks, run by a real worker.

They live in an importable module because workers import steps and hooks by module path.
"""

from __future__ import annotations

from pathlib import Path

from pipelines import get_step_context, pipeline, step
from pipelines.hooks import webhook_alerter_failure_hook


def mark_success(path: str) -> None:
    """Writes where the test can see it: the worker is another process."""
    with Path(path).open("a") as marker:
        marker.write(f"success of {get_step_context().step_run.name}\n")


@step
def produce() -> int:
    return 41


@step(on_failure=webhook_alerter_failure_hook(secret_name="slack_webhook"))
def explode(value: int) -> int:
    raise ValueError(f"cannot use {value}")


@pipeline(enable_cache=False)
def hooked_pipeline():
    explode(produce())
