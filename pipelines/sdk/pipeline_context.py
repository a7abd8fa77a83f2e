"""`get_pipeline_context()`: the configuration of the pipeline being traced, as ZenML's.

In a `@pipeline` body, `get_pipeline_context().extra` / `.model` / `.enable_cache` /
`.name` let the body shape the DAG from its configuration (a YAML file's `extra:`,
say). The context lives in a `contextvars.ContextVar` while the body is traced, which
is the only time it means something; elsewhere the call raises.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.sdk.exceptions import PipelineDefinitionError, PipelinesError
from pipelines.sdk.model import Model

if TYPE_CHECKING:
    from pipelines.sdk.pipeline import Pipeline


class PipelineContextError(PipelinesError, RuntimeError):
    """`get_pipeline_context()` was called outside a pipeline body being traced.

    A RuntimeError too, as ZenML's, so code written for it catches it."""


@dataclass(frozen=True)
class PipelineContext:
    """The pipeline's configuration as the run will have it (ZenML's `PipelineContext`)."""

    name: str
    run_name: str
    enable_cache: bool
    extra: dict[str, Any] = field(default_factory=dict)
    model: Model | None = None
    tags: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Tracing:
    context: PipelineContext
    # `steps:` of the configuration by invocation id, and the ids invoked so far.
    step_options: dict[str, dict[str, Any]]
    invoked: list[str] = field(default_factory=list)


_active: contextvars.ContextVar[_Tracing | None] = contextvars.ContextVar("pipelines_pipeline_context", default=None)


def get_pipeline_context() -> PipelineContext:
    """The context of the pipeline whose body is running (being traced)."""
    tracing = _active.get()
    if tracing is None:
        raise PipelineContextError(
            "get_pipeline_context() works only inside a @pipeline function while it is being "
            "called (traced); inside a step use get_step_context()."
        )
    return tracing.context


def configured_step_options(invocation_id: str) -> dict[str, Any]:
    """The configuration's `steps.<invocation_id>` options (empty when none or not tracing)."""
    tracing = _active.get()
    if tracing is None:
        return {}
    tracing.invoked.append(invocation_id)
    return tracing.step_options.get(invocation_id, {})


@contextmanager
def pipeline_context(pipeline: Pipeline) -> Iterator[PipelineContext]:
    """Make `pipeline`'s configuration the context while its body is traced; after
    the body, refuse `steps:` entries that named no step it invoked."""
    tracing = _Tracing(
        context=PipelineContext(
            name=pipeline.name,
            run_name=pipeline.run_name_template,
            enable_cache=pipeline.enable_cache,
            extra=dict(pipeline.extra),
            model=pipeline.model,
            tags=list(pipeline.tags),
            settings=dict(pipeline.settings),
        ),
        step_options=pipeline.step_options,
    )
    token = _active.set(tracing)
    try:
        yield tracing.context
    finally:
        _active.reset(token)
    unknown = sorted(set(tracing.step_options) - set(tracing.invoked))
    if unknown:
        raise PipelineDefinitionError(
            f"The configuration of pipeline {pipeline.name!r} names the step(s) {', '.join(unknown)}, which "
            f"the pipeline does not invoke; its steps are: {', '.join(tracing.invoked) or 'none'} (a step "
            "is named by its invocation id: the step's name, name_2 for its second call, or the id= given)."
        )
