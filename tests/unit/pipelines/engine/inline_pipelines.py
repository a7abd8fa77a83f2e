"""Pipelines for test_inline_artifacts.py: outputs that are, and are not, kept in their row."""

from __future__ import annotations

import enum
import os
from typing import Annotated

from pipelines import get_step_context, pipeline, step


class Colour(enum.IntEnum):
    RED = 1


@step(enable_cache=False)
def enum_value() -> Colour:
    return Colour.RED  # the built-in materializer pickles an IntEnum


@step(enable_cache=False)
def with_a_side_file() -> int:
    uri = get_step_context().get_output_artifact_uri()
    os.makedirs(uri, exist_ok=True)
    with open(os.path.join(uri, "notes.txt"), "w") as handle:
        handle.write("written by the step itself")
    return 7


@pipeline(enable_cache=False)
def odd_outputs():
    enum_value()
    with_a_side_file()


@step(enable_cache=False)
def inc(x: int = 0) -> int:
    return x + 1


@pipeline(enable_cache=False)
def int_chain(length: int = 6):
    """`length` steps, each taking the previous step's int output (bench/vs_zenml.py's chain)."""
    value = inc(id="inc_00")
    for i in range(1, length):
        value = inc(value, id=f"inc_{i:02d}")


@step(enable_cache=False)
def small_then_large() -> tuple[Annotated[int, "count"], Annotated[list, "values"]]:
    return 3, list(range(2000))  # the second is too large for its row


@pipeline(enable_cache=False)
def mixed_outputs():
    small_then_large()
