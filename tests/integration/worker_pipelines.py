"""Pipelines for the worker pool, timeout and code-match tests (unit and integration).

In an importable module, because workers import steps by module path.
"""

from __future__ import annotations

import contextlib
import os
import time

from pipelines import StepRetryConfig, pipeline, step

GPU_QUEUE = "gpu"
ATTEMPTS_FILE_ENV = "PIPELINES_TEST_ATTEMPTS_FILE"


@step
def on_default() -> int:
    return os.getpid()


@step(queue=GPU_QUEUE)
def on_gpu(upstream_pid: int) -> int:
    return upstream_pid + 1


@pipeline(enable_cache=False)
def pool_pipeline():
    on_gpu(on_default())


@pipeline(enable_cache=False, queue=GPU_QUEUE)
def all_on_gpu_pipeline():
    on_default.with_options(queue=None)()


def _count_attempt() -> None:
    path = os.environ.get(ATTEMPTS_FILE_ENV)
    if path:
        with open(path, "a") as handle:
            handle.write(f"{os.getpid()}\n")


@step(timeout=2)
def sleepy(seconds: float = 30) -> None:
    _count_attempt()
    time.sleep(seconds)


@step(timeout=2, retry=StepRetryConfig(max_retries=1))
def sleepy_retried(seconds: float = 30) -> None:
    _count_attempt()
    time.sleep(seconds)


@step(timeout=1)
def stubborn(seconds: float = 60) -> None:
    """Swallows every error, the timeout's too, and sleeps on."""
    _count_attempt()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):  # the point of this step
            time.sleep(0.2)


@step
def quick() -> int:
    return os.getpid()


@pipeline(enable_cache=False)
def sleepy_pipeline(seconds: float = 30):
    sleepy(seconds=seconds)


@pipeline(enable_cache=False)
def sleepy_retried_pipeline(seconds: float = 30):
    sleepy_retried(seconds=seconds)


@pipeline(enable_cache=False)
def stubborn_pipeline(seconds: float = 60):
    stubborn(seconds=seconds)


@pipeline(enable_cache=False)
def quick_pipeline():
    quick()


@step
def counted() -> None:
    _count_attempt()


@pipeline(enable_cache=False)
def counted_pipeline():
    counted()
