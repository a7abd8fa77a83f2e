"""Wide runs for test_wide_runs.py: many independent no-op steps feeding one join."""

from __future__ import annotations

from pipelines import pipeline, step


@step(enable_cache=False)
def nothing() -> None:
    """No output: the run's cost is the engine's alone."""


@pipeline(enable_cache=False)
def wide_pipeline(width: int = 200):
    branches = [nothing(id=f"branch_{i:04d}") for i in range(width)]
    nothing(id="join", after=branches)
