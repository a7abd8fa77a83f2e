"""`@step`: a Python function that a worker runs as one node of a pipeline."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any, overload

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.hooks import Hook, hook_spec
from pipelines.sdk.model import Model
from pipelines.sdk.outputs import OutputSpec, parse_outputs
from pipelines.sdk.pipeline_context import configured_step_options
from pipelines.sdk.retry import StepRetryConfig
from pipelines.sdk.run_config import (
    MEANINGLESS,
    STEP_KEYS,
    ConfigurationConflictError,
    Where,
    check_settings,
    check_step_options,
)
from pipelines.sdk.source import code_hash, source_of
from pipelines.sdk.step_options import queue_problem, timeout_problem
from pipelines.sdk.tracing import InvocationHandle, OutputHandle, active_trace

MaterializerSpec = type | Mapping[str, type] | None
# What `with_options` may change: every option of `@step`.
STEP_OPTIONS = (
    "name",
    "enable_cache",
    "output_materializers",
    "retry",
    "extra",
    "model",
    "queue",
    "timeout",
    "on_failure",
    "on_success",
    "settings",
)
# Options that are dictionaries: `with_options(merge=True)` (the default, as ZenML's)
# adds their keys to the current ones instead of replacing the whole dictionary.
MERGED_OPTIONS = ("parameters", "extra", "settings")


class Step:
    """A decorated step function.

    Called inside a `@pipeline` function it records an invocation and returns output
    handles; called anywhere else it simply runs the function.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        enable_cache: bool | None = None,
        output_materializers: MaterializerSpec = None,
        retry: StepRetryConfig | None = None,
        extra: dict[str, Any] | None = None,
        model: Model | None = None,
        queue: str | None = None,
        timeout: float | None = None,
        on_failure: Hook | None = None,
        on_success: Hook | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        if not callable(func):
            raise PipelineDefinitionError(f"@step needs a function, got {func!r}.")
        self.entrypoint = func
        self.name = name or func.__name__
        self.enable_cache = enable_cache
        if retry is not None and not isinstance(retry, StepRetryConfig):
            raise PipelineDefinitionError(f"retry= takes a StepRetryConfig, got {retry!r}.")
        self.retry = retry
        if model is not None and not isinstance(model, Model):
            raise PipelineDefinitionError(f"model= of step {self.name!r} takes a pipelines.Model, got {model!r}.")
        # A step's own model wins over the pipeline's for that step (its outputs link
        # to this model's version and get_step_context().model_version is it).
        self.model = model
        # The Celery queue the step's message goes to (None: the pipeline's, else the
        # server's PIPELINES_QUEUE); a worker started with `-Q <queue>` runs it.
        # Longest the step's function may run, in seconds, before its attempt fails.
        for problem in (
            queue_problem(queue, where=f"step {self.name!r}"),
            timeout_problem(timeout, where=f"step {self.name!r}"),
        ):
            if problem:
                raise PipelineDefinitionError(problem)
        self.queue = queue
        self.timeout = None if timeout is None else float(timeout)
        self.extra = dict(extra or {})
        # ZenML's settings (resources, docker): stored with the run, without effect here.
        self.settings = check_settings(settings or {}, Where(prefix=f"step {self.name!r}: "))
        # Parameters set by configuration (with_options(parameters=...), a YAML file's
        # steps.<name>.parameters): each invocation gets them unless the code passes
        # the same value (another value is a ConfigurationConflictError, as ZenML's).
        self.parameters: dict[str, Any] = {}
        # Kept as given (with_options passes them on); the spec holds their source paths.
        self.on_failure, self.on_success = on_failure, on_success
        self.hook_specs = {
            kind: hook_spec(hook, kind=kind, where=f"step {self.name!r}")
            for kind, hook in (("on_failure", on_failure), ("on_success", on_success))
        }
        self.signature = inspect.signature(func)
        self.outputs: list[OutputSpec] = parse_outputs(func)
        self.output_materializers = self._check_materializers(output_materializers)
        functools.update_wrapper(self, func)

    def _check_materializers(self, materializers: MaterializerSpec) -> dict[str, type]:
        from pipelines.sdk.materializers import BaseMaterializer

        if materializers is None:
            return {}
        if isinstance(materializers, type):
            materializers = {output.name: materializers for output in self.outputs}
        if not isinstance(materializers, Mapping):
            raise PipelineDefinitionError(
                f"output_materializers of step {self.name!r} must be a subclass of BaseMaterializer "
                f"or a dict of output name to one, got {materializers!r}."
            )
        names = {output.name for output in self.outputs}
        for output_name, materializer in materializers.items():
            if output_name not in names:
                raise PipelineDefinitionError(
                    f"output_materializers names {output_name!r}, but step {self.name!r} has "
                    f"the outputs: {', '.join(sorted(names)) or 'none'}."
                )
            if not (isinstance(materializer, type) and issubclass(materializer, BaseMaterializer)):
                raise PipelineDefinitionError(
                    f"The materializer for output {output_name!r} of step {self.name!r} must "
                    f"be a subclass of BaseMaterializer, got {materializer!r}."
                )
        return dict(materializers)

    def with_options(self, *, merge: bool = True, **options: Any) -> Step:
        """A copy with other options, as `@step(...)` takes them, and ZenML's
        `parameters=` and `settings=`: `train.with_options(queue="gpu", timeout=600)`.
        The worker imports the decorated step by its source path and takes these
        options from the run's spec. With `merge=True` (the default) `parameters`,
        `extra` and `settings` add to the current ones instead of replacing them."""
        copy = Step(self.entrypoint, **self._current_options())
        copy.parameters = dict(self.parameters)
        return copy.configure(merge=merge, **options)

    def configure(self, *, merge: bool = True, **options: Any) -> Step:
        """Change this step's options in place (every pipeline that uses it sees the
        change) and return it; `with_options` leaves the step as it is."""
        options = self._normalize_options(options)
        parameters = options.pop("parameters", None)
        current = self._current_options()
        if merge:
            for key in MERGED_OPTIONS:
                if key in options and key != "parameters":
                    options[key] = {**current[key], **options[key]}
        configured = Step(self.entrypoint, **{**current, **options})
        if parameters is not None:
            configured.parameters = {**self.parameters, **parameters} if merge else dict(parameters)
        else:
            configured.parameters = dict(self.parameters)
        configured._check_parameters()
        self.__dict__.update(configured.__dict__)
        return self

    def _current_options(self) -> dict[str, Any]:
        current = {name: getattr(self, name) for name in STEP_OPTIONS}
        current["output_materializers"] = self.output_materializers or None
        return current

    def _normalize_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """ZenML's keywords (a retry or model given as a mapping, failure_hook_source,
        outputs, the always-on flags) as this step's own options; meaningless ones refused."""
        accepted = sorted({*STEP_OPTIONS, *STEP_KEYS})
        unknown = sorted(set(options) - set(accepted) - set(MEANINGLESS))
        if unknown:
            raise PipelineDefinitionError(
                f"with_options of step {self.name!r} does not take {', '.join(unknown)}; "
                f"it takes: {', '.join(accepted)}."
            )
        own = {key: options[key] for key in ("name", "output_materializers") if key in options}
        rest = {key: value for key, value in options.items() if key not in own}
        return {**own, **_check_step_keywords(rest, Where(prefix=f"step {self.name!r}: "))}

    def _check_parameters(self) -> None:
        takes_any = any(p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values())
        unknown = sorted(set(self.parameters) - set(self.signature.parameters))
        if unknown and not takes_any:
            raise PipelineDefinitionError(
                f"The configured parameter(s) {', '.join(unknown)} of step {self.name!r} are not arguments of "
                f"the step; it takes: {', '.join(self.signature.parameters) or 'none'}."
            )

    @property
    def source(self) -> str:
        return source_of(self.entrypoint)

    @property
    def code_hash(self) -> str:
        return _cached_code_hash(self.entrypoint)

    def materializer_for_output(self, output: OutputSpec) -> type | None:
        """The materializer class an output is saved with, None if the value decides."""
        from pipelines.sdk.materializers import materializer_registry
        from pipelines.sdk.outputs import type_path

        if output.name in self.output_materializers:
            return self.output_materializers[output.name]
        if type_path(output.type) is None:
            return None
        return materializer_registry.materializer_for(output.type)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        trace = active_trace()
        if trace is None:
            return self.entrypoint(*args, **kwargs)
        # `id` and `after` configure the invocation unless the function itself takes
        # parameters of those names.
        invocation_id = kwargs.pop("id", None) if "id" not in self.signature.parameters else None
        after = kwargs.pop("after", None) if "after" not in self.signature.parameters else None
        # The run configuration's `steps.<invocation id>` options win over the step's own.
        identifier = trace._new_id(self, invocation_id)
        configured = configured_step_options(identifier)
        step = self.with_options(**configured) if configured else self
        kwargs = step._with_configured_parameters(identifier, args, kwargs)
        return trace.add_invocation(step, args, kwargs, invocation_id=invocation_id, after=after)

    def _with_configured_parameters(
        self, invocation_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """`kwargs` plus the configured parameters the call does not pass."""
        if not self.parameters:
            return kwargs
        try:
            given = self.signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            return kwargs  # add_invocation says what is wrong with the call
        merged = dict(kwargs)
        for name, value in self.parameters.items():
            if name not in given:
                merged[name] = value
                continue
            passed = given[name]
            if isinstance(passed, OutputHandle | InvocationHandle) or passed != value:
                shown = "a step's output" if isinstance(passed, OutputHandle | InvocationHandle) else repr(passed)
                raise ConfigurationConflictError(
                    f"Configured parameter for the step {invocation_id!r} conflict with parameter passed in "
                    f"runtime: {name!r} is {value!r} in the configuration and {shown} in the code. Remove it "
                    "from one of them (the configuration file's steps.<name>.parameters or the call)."
                )
        return merged

    def __repr__(self) -> str:
        return f"<Step {self.name}>"


@overload
def step(func: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    enable_cache: bool | None = None,
    output_materializers: MaterializerSpec = None,
    retry: StepRetryConfig | None = None,
    extra: dict[str, Any] | None = None,
    model: Model | None = None,
    queue: str | None = None,
    timeout: float | None = None,
    on_failure: Hook | None = None,
    on_success: Hook | None = None,
    settings: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function a pipeline step. Use as `@step` or `@step(enable_cache=False)`."""
    if func is not None:
        return Step(func, **options)
    return lambda f: Step(f, **options)


# `code_hash` reads the function's source and its module's whole file: a pipeline
# invoking one step 1,000 times read and hashed the same file 1,000 times (~0.4 s).
# Kept per function and per state (mtime, size) of those files, so an edit on disk
# still changes the hash at the next compile, as the worker re-imports the file then.
_code_hashes: weakref.WeakKeyDictionary[Callable[..., Any], tuple[tuple[Any, ...], str]] = weakref.WeakKeyDictionary()


def _cached_code_hash(func: Callable[..., Any]) -> str:
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    code = getattr(func, "__code__", None)
    state = (_file_state(getattr(code, "co_filename", None)), _file_state(getattr(module, "__file__", None)))
    try:
        cached = _code_hashes.get(func)
    except TypeError:  # not weakly referenceable: hash it every time
        return code_hash(func)
    if cached is not None and cached[0] == state:
        return cached[1]
    digest = code_hash(func)
    _code_hashes[func] = (state, digest)
    return digest


def _file_state(path: str | None) -> tuple[Any, ...]:
    if not path:
        return (path,)
    try:
        stat = os.stat(path)
    except OSError:
        return (path,)
    return (path, stat.st_mtime_ns, stat.st_size)


def _check_step_keywords(options: dict[str, Any], where: Where) -> dict[str, Any]:
    """`check_step_options` for keywords given in code: a hook may be a function and
    `queue` / `timeout` are checked by the Step itself."""
    passthrough = {key: options[key] for key in ("on_failure", "on_success", "queue", "timeout") if key in options}
    rest = {key: value for key, value in options.items() if key not in passthrough}
    return {**check_step_options(rest, where), **passthrough}
