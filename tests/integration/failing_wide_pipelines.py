"""A wide run whose first branches fail, for tests/unit/pipelines/services/test_held_back_dispatch.py."""

from __future__ import annotations

from pipelines import pipeline, step


@step(enable_cache=False)
def branch(i: int) -> None:
    if i < 3:
        raise ValueError(f"branch {i} fails on purpose")


@pipeline(enable_cache=False)
def failing_wide(width: int = 40):
    for i in range(width):
        branch(i=i, id=f"branch_{i:04d}")
