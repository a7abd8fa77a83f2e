"""Running examples/*.py against the demo's server, one after the other."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from config.env import BASE_DIR
from pipelines.demo.output import Printer, indent
from pipelines.supervisor import Supervisor, log_tail

EXAMPLE_TIMEOUT = 600.0


@dataclass(frozen=True)
class ExampleResult:
    path: Path
    ok: bool
    summary: str
    log_path: Path


def discover_examples(folder: Path) -> list[Path]:
    # A leading underscore marks helpers and packages (`__init__.py`), not examples.
    return sorted(path for path in folder.glob("*.py") if not path.name.startswith("_"))


def run_example(supervisor: Supervisor, path: Path, *, env: dict[str, str], log_path: Path) -> ExampleResult:
    started = time.monotonic()
    # Not watched: an example is meant to exit; only the server and worker dying is fatal.
    child = supervisor.start(
        path.name, [sys.executable, str(path)], env=env, log_path=log_path, cwd=BASE_DIR, watch=False
    )
    try:
        if not supervisor.wait_until(lambda: not child.alive(), timeout=EXAMPLE_TIMEOUT):
            supervisor.stop(child)
            return ExampleResult(path, False, f"timed out after {EXAMPLE_TIMEOUT:.0f} s", log_path)
    finally:
        if child in supervisor.children:  # stopped or a child died while it ran
            supervisor.stop(child, timeout=2.0)
    elapsed = time.monotonic() - started
    if child.process.returncode == 0:
        return ExampleResult(path, True, f"ok ({elapsed:.1f} s)", log_path)
    return ExampleResult(path, False, f"FAILED (exit status {child.process.returncode}, {elapsed:.1f} s)", log_path)


def run_examples(
    supervisor: Supervisor, printer: Printer, *, env: dict[str, str], log_dir: Path
) -> list[ExampleResult]:
    examples = discover_examples(BASE_DIR / "examples")
    if not examples:
        printer.say("No examples to run.")
    results = []
    for path in examples:
        printer.say(f"Example {path.name} ... ", ending="")
        result = run_example(supervisor, path, env=env, log_path=log_dir / f"{path.stem}.log")
        results.append(result)
        if result.ok:
            printer.success(result.summary)
        else:
            printer.error(result.summary)
            printer.say(indent(log_tail(result.log_path)))
            printer.say(f"  (full output: {result.log_path})")
    if examples:
        passed = sum(result.ok for result in results)
        printer.say(f"Examples: {passed} of {len(results)} passed.")
    return results
