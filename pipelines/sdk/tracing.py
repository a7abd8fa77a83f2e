"""Recording the DAG while a `@pipeline` function runs.

Inside a trace, calling a step does not run it: it records an invocation and returns
handles to its future outputs, which later calls take as inputs.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.external_artifact import external_input_id
from pipelines.sdk.spec import MAX_STEPS

if TYPE_CHECKING:
    from pipelines.sdk.step import Step


@dataclass(frozen=True)
class InvocationHandle:
    """What calling a step with no outputs returns: usable only in `after=`."""

    invocation_id: str


@dataclass(frozen=True)
class OutputHandle:
    """A future output of a step invocation; pass it to another step as an input."""

    invocation_id: str
    output_name: str

    def __iter__(self) -> Iterator[Any]:
        raise PipelineDefinitionError(
            f"Output {self.output_name!r} of {self.invocation_id!r} is a single artifact; a "
            "step with several outputs declares them as a tuple of Annotated types."
        )


@dataclass
class Invocation:
    id: str
    step: Step
    parameters: dict[str, Any]
    inputs: dict[str, OutputHandle]
    after: list[str]
    # Inputs that are existing artifact versions (ExternalArtifact, an ArtifactVersion): name -> id.
    external_inputs: dict[str, int] = field(default_factory=dict)


@dataclass
class Trace:
    pipeline_name: str
    invocations: dict[str, Invocation] = field(default_factory=dict)

    def _new_id(self, step: Step, requested: str | None) -> str:
        if requested is not None:
            if requested in self.invocations:
                raise PipelineDefinitionError(f"Two steps in the pipeline use the id {requested!r}.")
            return requested
        if step.name not in self.invocations:
            return step.name
        number = 2
        while f"{step.name}_{number}" in self.invocations:
            number += 1
        return f"{step.name}_{number}"

    def _after_ids(self, after: Any) -> list[str]:
        if after is None:
            return []
        items = after if isinstance(after, list | tuple) else [after]
        ids = []
        for item in items:
            if isinstance(item, OutputHandle | InvocationHandle):
                ids.append(item.invocation_id)
            elif isinstance(item, str) and item in self.invocations:
                ids.append(item)
            else:
                known = ", ".join(self.invocations) or "none yet"
                raise PipelineDefinitionError(
                    f"after={item!r} does not name a step invoked earlier in the pipeline (invoked so far: {known})."
                )
        return ids

    def add_invocation(
        self,
        step: Step,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        invocation_id: str | None,
        after: Any,
    ) -> Any:
        try:
            bound = step.signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            accepted = ", ".join(step.signature.parameters) or "none"
            raise PipelineDefinitionError(
                f"Step {step.name!r} was called with arguments it does not take ({exc}); it accepts: {accepted}."
            ) from None

        inputs: dict[str, OutputHandle] = {}
        external_inputs: dict[str, int] = {}
        parameters: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if isinstance(value, OutputHandle):
                inputs[name] = value
            elif (artifact_version_id := external_input_id(value)) is not None:
                external_inputs[name] = artifact_version_id
            elif isinstance(value, InvocationHandle):
                raise PipelineDefinitionError(
                    f"{value.invocation_id!r} has no outputs, so it cannot be the input "
                    f"{name!r} of step {step.name!r}; use after= to order the steps."
                )
            else:
                parameters[name] = _json_parameter(step.name, name, value)

        missing = [
            name
            for name, parameter in step.signature.parameters.items()
            if name not in bound.arguments
            and parameter.default is parameter.empty
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]
        if missing:
            raise PipelineDefinitionError(
                f"Step {step.name!r} is missing the input(s) {', '.join(missing)}: pass the "
                "output of another step or a value for each."
            )

        if len(self.invocations) >= MAX_STEPS:
            # Stop a loop over a parameter (range(n) with n from a trigger) here, before
            # it fills the compiling process's memory; the spec would be refused anyway.
            raise PipelineDefinitionError(f"A pipeline may have at most {MAX_STEPS:,} steps.")
        identifier = self._new_id(step, invocation_id)
        self.invocations[identifier] = Invocation(
            id=identifier,
            step=step,
            parameters=parameters,
            inputs=inputs,
            after=self._after_ids(after),
            external_inputs=external_inputs,
        )
        handles = [OutputHandle(identifier, output.name) for output in step.outputs]
        if not handles:
            return InvocationHandle(identifier)
        if len(handles) == 1:
            return handles[0]
        return tuple(handles)


def _json_parameter(step_name: str, name: str, value: Any) -> Any:
    if _contains_handle(value):
        raise PipelineDefinitionError(
            f"The argument {name!r} of step {step_name!r} holds step outputs inside a "
            "container; pass each output directly as its own argument."
        )
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise PipelineDefinitionError(
            f"The parameter {name!r} of step {step_name!r} is a {type(value).__name__}, "
            "which is not JSON. Parameters must be JSON values (str, int, float, bool, None, "
            "lists and dicts of them); pass other objects as the output of a step, or as "
            "ExternalArtifact(value=...) to save them as an input artifact."
        ) from None
    return value


def _contains_handle(value: Any) -> bool:
    if isinstance(value, OutputHandle | InvocationHandle):
        return True
    if isinstance(value, list | tuple | set):
        return any(_contains_handle(item) for item in value)
    if isinstance(value, dict):
        return any(_contains_handle(item) for item in value.values())
    return False


_active: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("pipelines_trace", default=None)


def active_trace() -> Trace | None:
    return _active.get()


@contextmanager
def tracing(pipeline_name: str) -> Iterator[Trace]:
    if _active.get() is not None:
        raise PipelineDefinitionError("A pipeline cannot be called inside another pipeline.")
    trace = Trace(pipeline_name)
    token = _active.set(trace)
    try:
        yield trace
    finally:
        _active.reset(token)
