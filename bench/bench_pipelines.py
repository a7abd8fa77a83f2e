"""Pipelines the engine benchmark runs (`bench/engine_bench.py`).

Imported as the top-level module `bench_pipelines`: the benchmark sets
PIPELINES_SOURCE_ROOT to this folder for itself and for the worker, so step sources
are `bench_pipelines:<function>` on both sides.

Caching is off everywhere so every run executes every step, except in `cached_chain`,
which measures caching itself.
"""

from __future__ import annotations

import time

from pipelines import pipeline, step

FANOUT_WIDTH = 10
SLEEP_SECONDS = 1.0


@step(enable_cache=False)
def noop() -> None:
    """Does nothing and has no output: pure engine overhead."""


@step(enable_cache=False)
def inc(x: int = 0) -> int:
    """Returns its input plus one: engine overhead plus one tiny artifact written and read."""
    return x + 1


@step
def cached_inc(x: int = 0, salt: int = 0) -> int:
    """`inc` with caching on (the default). `salt` only enters the cache key: a new salt
    makes the first step, and through its new output every later one, a cache miss."""
    return x + 1


@step(enable_cache=False)
def sleep_one(i: int) -> int:
    time.sleep(SLEEP_SECONDS)
    return i


@step(enable_cache=False)
def join(a0: int, a1: int, a2: int, a3: int, a4: int, a5: int, a6: int, a7: int, a8: int, a9: int) -> int:
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9


@pipeline(enable_cache=False)
def noop_chain(length: int = 20):
    """`length` no-op steps, each ordered after the previous one (`after=`)."""
    previous = None
    for i in range(length):
        previous = noop(id=f"noop_{i:02d}", after=previous)


@pipeline(enable_cache=False)
def data_chain(length: int = 20):
    """`length` steps, each taking the previous step's int output."""
    value = inc(id="inc_00")
    for i in range(1, length):
        value = inc(value, id=f"inc_{i:02d}")


@pipeline(enable_cache=True)
def cached_chain(length: int = 20, salt: int = 0):
    """`data_chain` with caching on; the first step takes `salt`. A second run with the
    same salt finds every step in the cache."""
    value = cached_inc(salt=salt, id="cinc_00")
    for i in range(1, length):
        value = cached_inc(value, id=f"cinc_{i:02d}")


@pipeline(enable_cache=False)
def fanout():
    """FANOUT_WIDTH steps that each sleep one second, all feeding one final step."""
    outputs = [sleep_one(i=i, id=f"sleep_{i}") for i in range(FANOUT_WIDTH)]
    join(*outputs, id="join")


@pipeline(enable_cache=False)
def short_chain(length: int = 7):
    """`noop_chain` under another name, for the throughput figure (many runs at once)."""
    previous = None
    for i in range(length):
        previous = noop(id=f"noop_{i:02d}", after=previous)


@pipeline(enable_cache=False)
def wide(width: int = 1000):
    """`width` independent no-op steps, all ordered before one final no-op step."""
    names = [noop(id=f"noop_{i:04d}") for i in range(width)]
    noop(id="join", after=names)
