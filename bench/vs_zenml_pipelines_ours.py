"""Pipelines of the side-by-side benchmark (bench/vs_zenml.py), run by this project.

bench/vs_zenml_pipelines_zenml.py is this file with `zenml` in place of `pipelines`
in the imports and nothing else changed (vs_zenml.py checks that before it runs).
Caching is off everywhere so every run executes every step.
"""

from __future__ import annotations

import os
import time

import numpy as np

from pipelines import pipeline, step

# A file the array step writes the wall-clock time its code ends to: from there to the
# step's recorded end is the cost of saving its output. Before that, the step times
# `np.save` + fsync of the same array to a new file beside the mark, in its own process
# (kept, so the system's save, like it, writes into new page cache): the baseline
# the save is compared with, taken in the same process and memory state.
RETURN_MARK_ENV = "VS_ZENML_RETURN_MARK"


def baseline_save_then_mark_return(array: np.ndarray) -> None:
    path = os.environ.get(RETURN_MARK_ENV)
    if not path:
        return
    t0 = time.perf_counter()
    with open(f"{path}.baseline.npy", "wb") as file:
        np.save(file, array)
        file.flush()
        os.fsync(file.fileno())
    np_save = time.perf_counter() - t0
    with open(path, "w") as file:
        file.write(f"{time.time()!r} {np_save!r}")


@step(enable_cache=False)
def inc(x: int = 0) -> int:
    return x + 1


@step(enable_cache=False)
def big_array(mib: int = 100) -> np.ndarray:
    array = np.arange(mib * 2**20 // 8, dtype=np.float64)
    baseline_save_then_mark_return(array)
    return array


@pipeline(enable_cache=False)
def int_chain(length: int = 20):
    """`length` steps, each taking the previous step's int output."""
    value = inc(id="inc_00")
    for i in range(1, length):
        value = inc(value, id=f"inc_{i:02d}")


@pipeline(enable_cache=False)
def array_output(mib: int = 100):
    """One step returning a `mib` MiB float64 array."""
    big_array(mib=mib, id="big_array")
