"""`@pipeline`: a function whose step calls describe a DAG that workers run."""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.hooks import HOOK_KINDS, Hook, hook_spec
from pipelines.sdk.model import Model
from pipelines.sdk.outputs import type_path
from pipelines.sdk.parameter_trace import parameter_schema, trace_bindings
from pipelines.sdk.pipeline_context import pipeline_context
from pipelines.sdk.run_config import (
    MEANINGLESS,
    PIPELINE_KEYS,
    ConfigurationConflictError,
    Where,
    check_pipeline_options,
    check_settings,
    check_tags,
    load_run_config,
)
from pipelines.sdk.run_tags import Tag, exclusive_tag_names, merge_tags, tag_names
from pipelines.sdk.settings import merged_settings
from pipelines.sdk.source import source_of, source_root
from pipelines.sdk.spec import DEFAULT_RUN_NAME_TEMPLATE, SPEC_VERSION, PipelineSpec, SpecError, validate_spec
from pipelines.sdk.step_options import queue_problem
from pipelines.sdk.tracing import Invocation, tracing


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
        tags: list[str | Tag] | None = None,
        extra: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        if model is not None and not isinstance(model, Model):
            raise PipelineDefinitionError(f"model= takes a pipelines.Model, got {model!r}.")
        self.model = model
        self.entrypoint = func
        self.name = name or func.__name__
        self.signature = inspect.signature(func)
        self._set_hooks(on_failure=on_failure, on_success=on_success)
        # The queue of every step that names none (None: the server's PIPELINES_QUEUE).
        self.queue = self._check_queue(queue)
        self.enable_cache = enable_cache
        self.run_name_template = run_name or DEFAULT_RUN_NAME_TEMPLATE
        self.wait = wait
        where = Where(prefix=f"pipeline {self.name!r}: ")
        # Stored on the run (shown, filterable: `?tag=`, `list_pipeline_runs(tag=...)`).
        self.tags: list[str | Tag] = check_tags(tags or [], where)
        # Free-form values for the pipeline body (get_pipeline_context().extra) and the run's config.
        self.extra: dict[str, Any] = check_pipeline_options({"extra": extra or {}}, where)["extra"]
        self.settings: dict[str, Any] = check_settings(settings or {}, where)
        # Set by configuration (with_options/configure, a YAML file):
        # the pipeline function's arguments when the call does not give them,
        self.parameters: dict[str, Any] = {}
        # each step invocation's options (`steps:`), by invocation id,
        self.step_options: dict[str, dict[str, Any]] = {}
        # and a schedule: calling the pipeline then creates the schedule instead of a run.
        self.schedule: Any = None
        functools.update_wrapper(self, func)

    def with_options(self, *, config_path: str | None = None, merge: bool = True, **options: Any) -> Pipeline:
        """A copy with other options: `my_pipeline.with_options(wait=False)(x=1)`,
        `my_pipeline.with_options(config_path="run.yaml")()`; see `configure`."""
        other = copy.copy(self)
        other.parameters = dict(self.parameters)
        other.step_options = {name: dict(options) for name, options in self.step_options.items()}
        other.tags, other.extra, other.settings = list(self.tags), dict(self.extra), dict(self.settings)
        return other.configure(config_path=config_path, merge=merge, **options)

    def configure(self, *, config_path: str | None = None, merge: bool = True, **options: Any) -> Pipeline:
        """Change this pipeline's options in place and return it, as ZenML's.

        Takes run_name, enable_cache, wait, queue, on_failure, on_success, tags, model,
        extra, settings, schedule, parameters (the function's arguments) and steps
        ({invocation id: {parameters, enable_cache, retry, model, extra, settings, ...}}).
        `config_path` names a YAML file of the same keys (`pipelines.sdk.run_config`),
        applied first, so that keywords given here win over the file, which wins over
        the decorator. With `merge=True` (the default) parameters, extra, settings,
        tags and each step's options add to the current ones instead of replacing them."""
        # As ZenML's (and with_options before): a keyword given as None changes nothing.
        options = {key: value for key, value in options.items() if value is not None}
        if "step_configurations" in options:  # ZenML's other name for `steps`
            options["steps"] = options.pop("step_configurations")
        wait = options.pop("wait", None)
        unknown = sorted(set(options) - set(PIPELINE_KEYS) - set(MEANINGLESS))
        if unknown:
            raise PipelineDefinitionError(
                f"with_options/configure of pipeline {self.name!r} does not take {', '.join(unknown)}; it takes: "
                f"{', '.join(sorted({*PIPELINE_KEYS, 'wait', 'config_path', 'merge'}))}."
            )
        if config_path is not None:
            self._apply(load_run_config(config_path), merge=merge)
        self._apply(check_pipeline_options(options, Where(prefix=f"pipeline {self.name!r}: ")), merge=merge)
        if wait is not None:
            self.wait = wait
        return self

    def _apply(self, options: dict[str, Any], *, merge: bool) -> None:
        if "on_failure" in options or "on_success" in options:
            self._set_hooks(
                on_failure=options.get("on_failure", self.on_failure),
                on_success=options.get("on_success", self.on_success),
            )
        if "queue" in options:
            self.queue = self._check_queue(options["queue"])
        if "run_name" in options:
            self.run_name_template = options["run_name"]
        if "enable_cache" in options:
            self.enable_cache = options["enable_cache"]
        if "model" in options:
            self.model = options["model"]
        if "schedule" in options:
            self.schedule = _schedule(options["schedule"], self.name)
        if "tags" in options:
            self.tags = merge_tags(self.tags, options["tags"]) if merge else options["tags"]
        for key in ("extra", "settings", "parameters"):
            if key in options:
                setattr(self, key, {**getattr(self, key), **options[key]} if merge else dict(options[key]))
        self._check_parameters()
        for name, step_options in options.get("steps", {}).items():
            current = self.step_options.get(name, {}) if merge else {}
            merged = {**current, **step_options}
            for key in ("parameters", "extra", "settings"):
                if merge and key in current and key in step_options:
                    merged[key] = {**current[key], **step_options[key]}
            self.step_options[name] = merged

    def _check_parameters(self) -> None:
        takes_any = any(p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values())
        unknown = sorted(set(self.parameters) - set(self.signature.parameters))
        if unknown and not takes_any:
            raise PipelineDefinitionError(
                f"The configured parameter(s) {', '.join(unknown)} of pipeline {self.name!r} are not arguments "
                f"of its function; it takes: {', '.join(self.signature.parameters) or 'none'}."
            )

    def _with_configured_parameters(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments plus the configured parameters it does not give; one
        given with another value is a ConfigurationConflictError, as ZenML's."""
        if not self.parameters:
            return args, kwargs
        try:
            given = self.signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            return args, kwargs  # _bind says what is wrong with the call
        merged = dict(kwargs)
        for name, value in self.parameters.items():
            if name not in given:
                merged[name] = value
            elif given[name] != value:
                raise ConfigurationConflictError(
                    f"Configured parameter for the pipeline `{self.name}` conflict with parameter passed in "
                    f"runtime: {name!r} is {value!r} in the configuration and {given[name]!r} in the call. "
                    "Give it in one place only."
                )
        return args, merged

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
        parameters = self._bind(*self._with_configured_parameters(args, kwargs))
        with tracing(self.name) as trace, pipeline_context(self):
            self.entrypoint(**parameters)
        if not trace.invocations:
            raise PipelineDefinitionError(f"Pipeline {self.name!r} calls no steps.")
        bindings = trace_bindings(
            self.entrypoint, self.signature, trace.invocations, self.name, context=lambda: pipeline_context(self)
        )
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
            **{key: value for key, value in self._run_options() if value},
        }
        try:
            return validate_spec(spec)
        except SpecError as exc:  # e.g. an `id=` or a run name the server would refuse
            raise PipelineDefinitionError(str(exc)) from None

    def _run_options(self) -> list[tuple[str, Any]]:
        return [
            ("tags", tag_names(self.tags)),
            ("exclusive_tags", exclusive_tag_names(self.tags)),
            ("extra", self.extra),
            ("settings", self.settings),
        ]

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
            **({"settings": merged_settings(self.settings, step.settings)} if self.settings or step.settings else {}),
            **{
                kind: step.hook_specs[kind] or self.hook_specs[kind]
                for kind in HOOK_KINDS
                if step.hook_specs[kind] or self.hook_specs[kind]
            },
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Submit a run; by default wait for it, printing progress, and return it.
        With a schedule set (with_options(schedule=...), a YAML `schedule:`), create
        the schedule instead and return it."""
        from pipelines.sdk.client import Client

        spec = self.compile(*args, **kwargs)
        if self.schedule is not None:
            from pipelines.sdk.schedules import create_schedule

            return create_schedule(self, spec, self.schedule)
        client = Client()
        run = client.create_run(spec)
        print(f"Run {run.name} submitted: {client.dashboard_url(run)}", flush=True)
        if not self.wait:
            return run
        return run.wait(progress=True)

    def write_run_configuration_template(self, path: str, *args: Any, **kwargs: Any) -> None:
        """Write a YAML run configuration of this pipeline as it is configured now (as
        ZenML's): every top-level key and, under `steps:`, each step invocation's
        parameters and options, to edit and pass back with `config_path=`. Arguments
        the configuration does not set are given here, as to a call."""
        from pipelines.sdk.run_config import run_config_template

        spec = self.compile(*args, **kwargs)
        Path(path).write_text(run_config_template(spec))

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
    tags: list[str | Tag] | None = None,
    extra: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function a pipeline. Use as `@pipeline` or `@pipeline(enable_cache=False)`."""
    if func is not None:
        return Pipeline(func, **options)
    return lambda f: Pipeline(f, **options)


def _schedule(value: Any, pipeline_name: str) -> Any:
    """A `Schedule`, from one or from a configuration's mapping (`schedule: {cron_expression: ...}`)."""
    if value is None:
        return None
    try:
        from pipelines.sdk.schedules import Schedule
    except ImportError:
        raise PipelineDefinitionError(
            f"Pipeline {pipeline_name!r}: schedules are not available in this version of the SDK."
        ) from None
    if isinstance(value, Schedule):
        return value
    if not isinstance(value, dict):
        raise PipelineDefinitionError(
            f"The schedule of pipeline {pipeline_name!r} must be a Schedule or a mapping of its fields, got {value!r}."
        )
    try:
        return Schedule(**value)
    except (TypeError, ValueError) as exc:
        raise PipelineDefinitionError(f"The schedule of pipeline {pipeline_name!r} is not valid: {exc}") from None
