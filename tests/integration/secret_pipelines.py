"""Pipelines that read secrets, run by a real worker (and in-process by unit tests).

They live in an importable module because workers import steps by module path.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated

from pipelines import get_step_context, log_metadata, pipeline, step
from pipelines.client import Client

logger = logging.getLogger("secret_pipelines")


@step
def leak_everywhere(secret_name: str) -> Annotated[str, "report"]:
    """Tries every way a step could reveal the value it read."""
    value = Client().get_secret(secret_name).secret_values["token"]
    print(f"printed: {value}")
    # One value split across two writes.
    sys.stdout.write(f"split: {value[:5]}")
    sys.stdout.write(f"{value[5:]} end\n")
    print(f"to stderr: {value}", file=sys.stderr)
    logger.warning("logged: %s", value)
    try:
        raise RuntimeError(f"handled: {value}")
    except RuntimeError:
        logger.exception("with a traceback")
    log_metadata({"token": value, "nested": {"list": [value, "plain"], value: 1}})
    context = get_step_context()
    context.add_output_metadata({"output_token": value})
    context.add_output_tags([value])
    # Sent at once with an explicit target, not with the step's outcome.
    log_metadata({"sent_token": f"prefix-{value}"}, step_id=context.step_run.id)
    return "done"


@step
def fail_with_the_value(secret_name: str) -> None:
    value = Client().get_secret(secret_name).secret_values["token"]
    print("about to fail")
    raise ValueError(f"the token {value} was refused")


@pipeline(enable_cache=False)
def canary_pipeline(secret_name: str):
    leak_everywhere(secret_name=secret_name)
    fail_with_the_value(secret_name=secret_name)


@step
def keep_the_run_token(token_file: str, secret_name: str) -> Annotated[list[str], "keys"]:
    """Reads a secret with its run token, and writes the token where the test can
    try it once the step has ended."""
    keys = sorted(Client().get_secret(secret_name).secret_values)
    _, key = get_step_context().client_credentials()
    Path(token_file).write_text(key)
    return keys


@pipeline(enable_cache=False)
def token_pipeline(token_file: str, secret_name: str):
    keep_the_run_token(token_file=token_file, secret_name=secret_name)


@step
def print_sleep_print(marker_file: str, seconds: float = 30.0) -> None:
    """Prints, then sleeps until the test touches `marker_file` (or `seconds` pass)."""
    print("first line, before the nap", flush=True)
    deadline = time.monotonic() + seconds
    while not Path(marker_file).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("second line, after the nap")


@pipeline(enable_cache=False)
def live_log_pipeline(marker_file: str):
    print_sleep_print(marker_file=marker_file)


@step
def print_encoded(secret_name: str) -> None:
    """Prints the value read in each form a step plausibly would, and logs it as JSON text."""
    import json

    value = Client().get_secret(secret_name).secret_values["token"]
    print("as is:", value)
    print("json:", json.dumps({"token": value}))
    print("json, unescaped letters:", json.dumps({"token": value}, ensure_ascii=False))
    print("a dict:", {"token": value})
    print("ascii:", ascii(value))
    print("bytes:", value.encode())
    log_metadata({"config": json.dumps({"token": value}, ensure_ascii=False)})


@pipeline(enable_cache=False)
def encoded_canary_pipeline(secret_name: str):
    print_encoded(secret_name=secret_name)
