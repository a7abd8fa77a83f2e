"""`@pipeline`: a function whose step calls describe a DAG that workers run."""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.hooks import HOOK_KINDS, Hook, hook_spec
from pipelines.sdk.model import Model
from pipelines.sdk.outputs import type_path
from pipelines.sdk.parameter_trace import parameter_schema, trace_bindings
from pipelines.sdk.source import source_of, source_root
from pipelines.sdk.spec import DEFAULT_RUN_NAME_TEMPLATE, SPEC_VERSION, PipelineSpec, SpecError, validate_spec
from pipelines.sdk.step_options import queue_problem
from pipelines.sdk.tracing import Invocation, tracing

if TYPE_CHECKING:
    from pipelines.sdk.responses import PipelineRun


class Pipeline:
    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        enable_cache: bool = True,
        run_name: str | None = None,
        wait: bool = True,
        model: Model | None = None,
        queue: str | None = None,
        on_failure: Hook | None = None,
        on_success: Hook | None = None,
    ) -> None:
        if model is not None and not isinstance(model, Model):
            raise PipelineDefinitionError(f"model= takes a pipelines.Model, got {model!r}.")
        self.model = model
        self.entrypoint = func
        self.name = name or func.__name__
        self._set_hooks(on_failure=on_failure, on_success=on_success)
        # The queue of every step that names none (None: the server's PIPELINES_QUEUE).
        self.queue = self._check_queue(queue)
        self.enable_cache = enable_cache
        self.run_name_template = run_name or DEFAULT_RUN_NAME_TEMPLATE
        self.wait = wait
        self.signature = inspect.signature(func)
        functools.update_wrapper(self, func)

    def with_options(
        self,
        *,
        run_name: str | None = None,
        enable_cache: bool | None = None,
        wait: bool | None = None,
        queue: str | None = None,
        on_failure: Hook | None = None,
        on_success: Hook | None = None,
    ) -> Pipeline:
        """A copy with other run options: `my_pipeline.with_options(wait=False)(x=1)`."""
        other = copy.copy(self)
        other._set_hooks(
            on_failure=self.on_failure if on_failure is None else on_failure,
            on_success=self.on_success if on_success is None else on_success,
        )
        if queue is not None:
            other.queue = self._check_queue(queue)
        if run_name is not None:
            other.run_name_template = run_name
        if enable_cache is not None:
            other.enable_cache = enable_cache
        if wait is not None:
            other.wait = wait
        return other

    def _set_hooks(self, *, on_failure: Hook | None, on_success: Hook | None) -> None:
        """As in ZenML's static pipelines, a pipeline's hook is the default of each of
        its steps that sets none (no separate run-level hook runs)."""
        self.on_failure, self.on_success = on_failure, on_success
        self.hook_specs = {
            kind: hook_spec(hook, kind=kind, where=f"pipeline {self.name!r}")
            for kind, hook in (("on_failure", on_failure), ("on_success", on_success))
        }

    def _check_queue(self, queue: str | None) -> str | None:
        problem = queue_problem(queue, where=f"pipeline {self.name!r}")
        if problem:
            raise PipelineDefinitionError(problem)
        return queue

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            accepted = ", ".join(self.signature.parameters) or "none"
            raise PipelineDefinitionError(
                f"Pipeline {self.name!r} cannot take these arguments ({exc}); its parameters are: {accepted}."
            ) from None
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise PipelineDefinitionError(
                    f"Pipeline parameter {name!r} is a {type(value).__name__}, which is not "
                    "JSON. Pipeline parameters must be JSON values."
                ) from None
        return dict(bound.arguments)

    def compile(self, *args: Any, **kwargs: Any) -> PipelineSpec:
        """Trace the pipeline function and return the spec the server runs."""
        parameters = self._bind(args, kwargs)
        with tracing(self.name) as trace:
            self.entrypoint(**parameters)
        if not trace.invocations:
            raise PipelineDefinitionError(f"Pipeline {self.name!r} calls no steps.")
        bindings = trace_bindings(self.entrypoint, self.signature, trace.invocations, self.name)
        spec = {
            "version": SPEC_VERSION,
            "pipeline": self.name,
            "pipeline_source": source_of(self.entrypoint),
            "run_name_template": self.run_name_template,
            "parameters": parameters,
            "parameter_schema": parameter_schema(self.entrypoint, self.signature),
            "dag": "dynamic" if bindings is None else "static",
            **({"parameter_bindings": bindings} if bindings else {}),
            "source_root": str(source_root()),
            "enable_cache": self.enable_cache,
            "steps": [self._step_spec(inv) for inv in trace.invocations.values()],
            **({"queue": self.queue} if self.queue else {}),
            **({"model": self.model.to_spec()} if self.model else {}),
        }
        try:
            return validate_spec(spec)
        except SpecError as exc:  # e.g. an `id=` or a run name the server would refuse
            raise PipelineDefinitionError(str(exc)) from None

    def _step_spec(self, invocation: Invocation) -> dict[str, Any]:
        step = invocation.step
        outputs = []
        for output in step.outputs:
            materializer = step.materializer_for_output(output)
            outputs.append(
                {
                    "name": output.name,
                    "type": type_path(output.type),
                    "materializer": source_of(materializer) if materializer else None,
                    **({"artifact": output.config.to_spec()} if output.config else {}),
                }
            )
        return {
            "name": invocation.id,
            "source": step.source,
            "code_hash": step.code_hash,
            "parameters": invocation.parameters,
            "inputs": {
                name: {"step": handle.invocation_id, "output": handle.output_name}
                for name, handle in invocation.inputs.items()
            },
            **({"external_inputs": invocation.external_inputs} if invocation.external_inputs else {}),
            "after": invocation.after,
            "outputs": outputs,
            "enable_cache": self.enable_cache if step.enable_cache is None else step.enable_cache,
            "retry": step.retry.to_spec() if step.retry else None,
            "extra": step.extra,
            **({"model": step.model.to_spec()} if step.model else {}),
            **({"queue": step.queue or self.queue} if step.queue or self.queue else {}),
            **({"timeout": step.timeout} if step.timeout is not None else {}),
            **{
                kind: step.hook_specs[kind] or self.hook_specs[kind]
                for kind in HOOK_KINDS
                if step.hook_specs[kind] or self.hook_specs[kind]
            },
        }

    def __call__(self, *args: Any, **kwargs: Any) -> PipelineRun:
        """Submit a run; by default wait for it, printing progress, and return it."""
        from pipelines.sdk.client import Client

        spec = self.compile(*args, **kwargs)
        client = Client()
        run = client.create_run(spec)
        print(f"Run {run.name} submitted: {client.dashboard_url(run)}", flush=True)
        if not self.wait:
            return run
        return run.wait(progress=True)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name}>"


@overload
def pipeline(func: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    *,
    name: str | None = None,
    enable_cache: bool = True,
    run_name: str | None = None,
    wait: bool = True,
    model: Model | None = None,
    queue: str | None = None,
    on_failure: Hook | None = None,
    on_success: Hook | None = None,
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function a pipeline. Use as `@pipeline` or `@pipeline(enable_cache=False)`."""
    if func is not None:
        return Pipeline(func, **options)
    return lambda f: Pipeline(f, **options)
