"""Failure and success hooks: `@step(on_failure=..., on_success=...)`, as in ZenML.

A hook is given as a module-level function, a `functools.partial` of one with JSON
keyword arguments, or a source path string (`"module.path:function"` or ZenML's
dotted `"module.path.function"`). The spec stores its source path (and the partial's
keyword arguments) so that the worker imports it; it is checked when the step or
pipeline is defined. As in ZenML's static pipelines, a pipeline's hook is the default
of each of its steps that sets none: no separate run-level hook runs.

On the worker a hook runs inside the step's context (`get_step_context()` works) and
its output lands in the step's log: `on_success` after the outputs are saved,
`on_failure` once, when the failure is the step's last (no retry follows). A cache
hit runs no hook. A hook that raises is logged on the step and changes nothing.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
import traceback
import typing
from collections.abc import Callable
from typing import Any

from pipelines.sdk.exceptions import NonRetryableError, PipelineDefinitionError
from pipelines.sdk.naming import source_problem
from pipelines.sdk.source import load_source, source_of

logger = logging.getLogger(__name__)

HOOK_KINDS = ("on_failure", "on_success")
Hook = Callable[..., Any] | str
# In the spec: a source path, or {"source": ..., "kwargs": {...}} for a partial.
HookSpec = str | dict[str, Any]


def _exception_parameter(func: Callable[..., Any]) -> str | None:
    """The parameter that receives the step's exception: annotated with an exception
    type (as ZenML detects it), or named `exception` (ZenML's `exception=None` form)."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    for name, parameter in inspect.signature(func).parameters.items():
        annotation = hints.get(name, parameter.annotation)
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseException):
                return name
        if name == "exception":
            return name
    return None


def _check_signature(func: Callable[..., Any], kind: str, bound: dict[str, Any], where: str) -> None:
    exception_parameter = _exception_parameter(func)
    for name, parameter in inspect.signature(func).parameters.items():
        if name in bound or parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if name == exception_parameter and kind == "on_failure":
            continue
        takes = (
            "nothing, or the exception (`def hook(exception: BaseException)`)" if kind == "on_failure" else "nothing"
        )
        raise PipelineDefinitionError(
            f"The {kind} hook {func.__qualname__} of {where} needs the argument {name!r}, which no one "
            f"gives it: an {kind} hook takes {takes}."
        )


def _source_from_string(value: str, kind: str, where: str) -> str:
    if ":" not in value:
        # ZenML's dotted form: the last dot separates the module from the function.
        module, _, name = value.rpartition(".")
        value = f"{module}:{name}" if module else value
    if source_problem(value) is not None:
        raise PipelineDefinitionError(
            f"The {kind} hook {value!r} of {where} is not a source path; give a function or "
            "'module.path:function' (or 'module.path.function')."
        )
    return value


def hook_spec(hook: Hook | None, *, kind: str, where: str) -> HookSpec | None:
    """What the spec stores for `hook`; PipelineDefinitionError saying why it cannot run."""
    if hook is None:
        return None
    kwargs: dict[str, Any] = {}
    func: Any = hook
    if isinstance(hook, functools.partial):
        if hook.args:
            raise PipelineDefinitionError(
                f"The {kind} hook of {where} is a partial with positional arguments; give them by keyword."
            )
        func, kwargs = hook.func, dict(hook.keywords)
        try:
            json.dumps(kwargs, allow_nan=False)
        except (TypeError, ValueError):
            raise PipelineDefinitionError(
                f"The keyword arguments of the {kind} hook of {where} must be JSON values (the worker gets them)."
            ) from None
    if isinstance(func, str):
        source = _source_from_string(func, kind, where)
        try:
            func = load_source(source)
        except Exception as exc:
            raise PipelineDefinitionError(
                f"The {kind} hook {hook!r} of {where} cannot be imported: {type(exc).__name__}: {exc}"
            ) from None
    if not inspect.isfunction(func) or func.__name__ == "<lambda>" or "<locals>" in func.__qualname__:
        raise PipelineDefinitionError(
            f"The {kind} hook {getattr(func, '__qualname__', func)!r} of {where} must be a function defined "
            "at the top level of a module: the worker imports it by its module path."
        )
    source = source_of(func)
    _check_signature(func, kind, kwargs, where)
    return {"source": source, "kwargs": kwargs} if kwargs else source


def hook_spec_problem(value: Any, *, what: str) -> str | None:
    """Why a spec's hook entry is malformed (None if it is fine, or absent)."""
    if value is None:
        return None
    if isinstance(value, dict):
        if set(value) - {"source", "kwargs"} or not isinstance(value.get("kwargs", {}), dict):
            return f"{what} must be 'module:qualname' or {{'source': 'module:qualname', 'kwargs': {{...}}}}."
        value = value.get("source")
    return source_problem(value, what=what)


def failure_is_final(spec: dict[str, Any], failures_so_far: int, exc: BaseException) -> bool:
    """Whether this failed attempt is the step's last, as step_run_fail decides it:
    ZenML runs on_failure once, at the terminal outcome, not once per retry."""
    from pipelines.sdk.retry import StepRetryConfig

    retry = StepRetryConfig.from_spec(spec.get("retry"))
    retryable = not isinstance(exc, NonRetryableError) and getattr(exc, "retryable", True)
    return not (retryable and retry is not None and failures_so_far < retry.max_retries)


def run_hook(spec: HookSpec | None, *, kind: str, step_name: str, exception: BaseException | None = None) -> None:
    """Run a step's hook. It never raises: a hook's error goes to the step's log."""
    if not spec:
        return
    source, kwargs = (spec["source"], dict(spec.get("kwargs") or {})) if isinstance(spec, dict) else (spec, {})
    try:
        func = load_source(source)
        parameter = _exception_parameter(func)
        if parameter is not None and kind == "on_failure" and parameter not in kwargs:
            kwargs[parameter] = exception
        print(f"Running the {kind} hook {source} of step {step_name!r}.", flush=True)
        func(**kwargs)
    except (Exception, SystemExit) as exc:  # sys.exit() in a hook changes nothing either
        # Printed to stderr, which is captured into the step's log.
        print(
            f"The {kind} hook {source} of step {step_name!r} failed (the step's outcome stands):\n"
            + "".join(traceback.format_exception(exc)),
            file=sys.stderr,
            flush=True,
        )
        logger.warning("The %s hook %s of step %s failed: %s", kind, source, step_name, type(exc).__name__)
