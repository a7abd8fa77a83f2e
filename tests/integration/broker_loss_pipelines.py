"""Pipelines for the broker-loss tests: every execution of a step's code leaves a line
in a file, so a test can tell that no step ran twice, whatever the broker delivered.

An importable module because workers import steps by module path.
"""

from __future__ import annotations

import os
import time

from pipelines import get_step_context, pipeline, step

EXECUTIONS_FILE_ENV = "PIPELINES_TEST_EXECUTIONS_FILE"


def _record_execution() -> None:
    path = os.environ.get(EXECUTIONS_FILE_ENV)
    if not path:
        return
    context = get_step_context()
    # One short line in append mode is one write(2): lines of parallel steps never mix.
    with open(path, "a") as handle:
        handle.write(f"{context.pipeline_run.name} {context.step_name} {context.step_run.attempt}\n")


@step
def first(seconds: float) -> int:
    _record_execution()
    time.sleep(seconds)
    return 1


@step
def second(value: int, seconds: float) -> int:
    _record_execution()
    time.sleep(seconds)
    return value + 1


@step
def third(value: int) -> int:
    _record_execution()
    return value + 1


@pipeline(enable_cache=False)
def chain_pipeline(seconds: float = 0.5):
    third(second(first(seconds), seconds))
