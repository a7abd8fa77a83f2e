"""Pipelines the integration tests run on a real worker.

They live in an importable module because workers import steps by module path.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from pipelines import (
    NonRetryableError,
    StepRetryConfig,
    StorageSize,
    Uri,
    get_step_context,
    log_artifact_metadata,
    log_metadata,
    pipeline,
    step,
)
from pipelines.sdk.materializers import BaseMaterializer

logger = logging.getLogger("sample_pipelines")


# --- the example, reporting what the step context said -----------------
@step
def load() -> Annotated[list[int], "numbers"]:
    return [1, 2, 3]


@step
def total(numbers: list[int], scale: int = 1) -> int:
    return sum(numbers) * scale


@pipeline(enable_cache=False)
def numbers_pipeline(scale: int = 2):
    total(load(), scale=scale)


@step
def describe_context() -> Annotated[dict[str, Any], "context"]:
    ctx = get_step_context()
    return {
        "pipeline": ctx.pipeline.name,
        "run": ctx.pipeline_run.name,
        "step": ctx.step_run.name,
        "step_name": ctx.step_name,
        "attempt": ctx.step_run.attempt,
        "uri": ctx.get_output_artifact_uri(),
        "materializer": type(ctx.get_output_materializer()).__name__,
    }


@step
def check_inputs(context: dict[str, Any]) -> Annotated[dict[str, Any], "inputs_seen"]:
    ctx = get_step_context()
    source = ctx.inputs["context"]
    return {"artifact": source.artifact_name, "producer": source.producer_step, "uri": source.uri}


@pipeline(enable_cache=False)
def context_pipeline():
    check_inputs(describe_context())


# --- parallel branches -----------------------------------------------------------
@step
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@step
def add_up(a: float, b: float) -> float:
    return a + b


@pipeline(enable_cache=False)
def parallel_pipeline(seconds: float = 1.0):
    add_up(nap(seconds), nap(seconds))


# --- several outputs, reuse, ordering ---------------------------------------------
@step
def split(values: list[int]) -> tuple[Annotated[list[int], "evens"], Annotated[list[int], "odds"]]:
    return [v for v in values if v % 2 == 0], [v for v in values if v % 2 == 1]


@step
def count(items: list[int]) -> int:
    return len(items)


@step
def marker() -> None:
    print("marker ran")


@pipeline(enable_cache=False)
def split_pipeline(values: list[int]):
    first = marker()
    evens, odds = split(values, after=first)
    count(evens)
    count(odds)


# --- failures ------------------------------------------------------------------------
@step
def explode(message: str) -> int:
    print("about to fail")
    raise ValueError(message)


@pipeline(enable_cache=False)
def failing_pipeline(message: str = "boom"):
    total(load(), scale=explode(message))
    count(load())


class BrokenMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (object,)
    SKIP_REGISTRATION = True  # for this step only, not every value the worker saves

    def load(self, data_type: type) -> Any:
        raise AssertionError("never loaded")

    def save(self, data: Any) -> None:
        raise OSError("disk full (simulated)")


@step(output_materializers=BrokenMaterializer)
def unsaveable() -> int:
    return 1


@pipeline(enable_cache=False)
def unsaveable_pipeline():
    unsaveable()


# --- logs --------------------------------------------------------------------------
@step
def chatty() -> None:
    print("hello from stdout")
    import sys

    print("hello from stderr", file=sys.stderr)
    logger.warning("hello from logging")


@pipeline(enable_cache=False)
def chatty_pipeline():
    chatty()


# --- caching and retries -------------------------------------------------------------
CALLS_FILE_ENV = "PIPELINES_TEST_CALLS_FILE"


def _record_call(name: str) -> None:
    """Append the step's name to a file, so a test can count executions of user code."""
    import os

    path = os.environ.get(CALLS_FILE_ENV)
    if path:
        with open(path, "a") as handle:
            handle.write(name + "\n")


@step
def cached_source(size: int) -> Annotated[list[int], "cached_numbers"]:
    _record_call("cached_source")
    return list(range(size))


@step
def cached_sum(numbers: list[int]) -> Annotated[int, "cached_total"]:
    _record_call("cached_sum")
    return sum(numbers)


@pipeline
def cached_pipeline(size: int = 3):
    cached_sum(cached_source(size))


@step(retry=StepRetryConfig(max_retries=2, delay=0))
def flaky(failures: int) -> int:
    attempt = get_step_context().step_run.attempt
    if attempt <= failures:
        raise RuntimeError(f"flaky failure on attempt {attempt}")
    return attempt


@pipeline(enable_cache=False)
def flaky_pipeline(failures: int = 1):
    total(load(), scale=flaky(failures))


@step(retry=StepRetryConfig(max_retries=3, delay=0))
def refuses(message: str) -> int:
    raise NonRetryableError(message)


@pipeline(enable_cache=False)
def refusing_pipeline():
    refuses("bad input, retrying cannot help")


# --- crashes -------------------------------------------------------------------------
@step
def sleepy_first_attempt(seconds: float) -> Annotated[int, "survivor"]:
    """Sleeps on its first attempt (long enough to be killed), returns at once after."""
    attempt = get_step_context().step_run.attempt
    _record_call(f"sleepy:{attempt}")
    if attempt == 1:
        time.sleep(seconds)
    return attempt


@pipeline(enable_cache=False)
def crash_pipeline(seconds: float = 30.0):
    total(load(), scale=sleepy_first_attempt(seconds))


@step
def kills_its_worker() -> int:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    return 0


@pipeline(enable_cache=False)
def doomed_pipeline():
    kills_its_worker()


# --- metadata ------------------------------------------------------------------------
@step
def make_dataset() -> Annotated[list[int], "my_dataset"]:
    log_artifact_metadata({"accuracy": 0.5})
    log_artifact_metadata({"accuracy": 0.93, "source": Uri("s3://bucket/data.csv")})
    ctx = get_step_context()
    ctx.add_output_tags(["gold", "v2"])
    log_metadata({"rows": 3, "disk": StorageSize(1024)})
    return [1, 2, 3]


@pipeline(enable_cache=False)
def metadata_pipeline():
    make_dataset()


# --- the Client inside a step ----------------------------------------------------------
@step
def reads_its_own_run() -> Annotated[dict[str, Any], "seen"]:
    from pipelines.client import Client

    ctx = get_step_context()
    run = Client().get_pipeline_run(ctx.pipeline_run.id)
    log_metadata({"seen_by_client": True}, run_id_name_or_prefix=ctx.pipeline_run.id)
    return {"name": run.name, "steps": sorted(run.steps)}


@pipeline(enable_cache=False)
def client_pipeline():
    reads_its_own_run()


@step
def saves_a_side_artifact() -> Annotated[int, "side_version_id"]:
    from pipelines import save_artifact

    return save_artifact({"from": "a step"}, name="side_output", tags=["manual"]).id


@pipeline(enable_cache=False)
def side_artifact_pipeline():
    saves_a_side_artifact()


# --- exits: SystemExit, KeyboardInterrupt and other BaseExceptions from a step ---------
@step
def exits(how: str) -> int:
    """Leaves the way `how` says, after noting which pool process ran it."""
    import os
    import sys

    _record_call(f"exits:{how}:{os.getpid()}")
    print(f"leaving by {how}")
    if how == "sys.exit(3)":
        sys.exit(3)
    if how == "SystemExit":
        raise SystemExit
    if how == "KeyboardInterrupt":
        raise KeyboardInterrupt("interrupted by the step")
    if how == "GeneratorExit":
        raise GeneratorExit("closed by the step")
    if how == "WorkerShutdown":  # what Celery raises in a solo worker told to stop
        from celery.exceptions import WorkerShutdown

        raise WorkerShutdown(0)
    return 0


@pipeline(enable_cache=False)
def exiting_pipeline(how: str = "sys.exit(3)"):
    exits(how)


@step
def pool_pid() -> int:
    import os

    return os.getpid()


@pipeline(enable_cache=False)
def pool_pid_pipeline():
    pool_pid()
