"""A wide run whose first branches fail, for tests/unit/pipelines/services/test_held_back_dispatch.py."""

from __future__ import annotations

import contextlib
import time

from pipelines import pipeline, step


@step(enable_cache=False)
def branch(i: int) -> None:
    if i < 3:
        raise ValueError(f"branch {i} fails on purpose")


@pipeline(enable_cache=False)
def failing_wide(width: int = 40):
    for i in range(width):
        branch(i=i, id=f"branch_{i:04d}")


@step(enable_cache=False, timeout=1)
def stubborn_branch(i: int, seconds: float = 2.5) -> None:
    """Swallows its timeout and sleeps on: the overrun timer records its failure."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):  # the point of this step
            time.sleep(0.1)


@pipeline(enable_cache=False)
def stubborn_wide(width: int = 20):
    for i in range(width):
        stubborn_branch(i=i, id=f"branch_{i:04d}")
