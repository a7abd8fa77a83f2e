"""Pipelines for test_step_round_trips.py: no-op steps ordered by `after`, as in the
throughput runs of bench/engine_bench.py."""

from __future__ import annotations

from pipelines import pipeline, step


@step(enable_cache=False)
def noop() -> None:
    return None


@pipeline(enable_cache=False)
def noop_chain(length: int = 6):
    previous = None
    for i in range(length):
        previous = noop(id=f"noop_{i:02d}", after=previous)


@pipeline(enable_cache=False)
def wide(width: int = 40):
    names = [noop(id=f"noop_{i:04d}") for i in range(width)]
    noop(id="join", after=names)
