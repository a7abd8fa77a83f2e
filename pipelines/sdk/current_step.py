"""Which step is running here: the one ContextVar that holds the current step context.

A module of its own, importing nothing of the SDK at run time, so that the step
context (which makes a `Client` on demand) and the `Client` (which reads the current
context for its token and secret masking) both depend on it instead of on each
other. A ContextVar, never a process global, so concurrent steps in one process (a
threaded worker) each see their own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pipelines.sdk.exceptions import StepContextError

if TYPE_CHECKING:
    from pipelines.sdk.context import StepContext

_current: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar("pipelines_step_context", default=None)


def current_step_context() -> StepContext | None:
    """The running step's context, or None outside a step."""
    return _current.get()


def get_step_context() -> StepContext:
    context = _current.get()
    if context is None:
        raise StepContextError(
            "get_step_context() was called outside a running step. It only works inside "
            "a function decorated with @step while a worker runs it as part of a pipeline."
        )
    return context


@contextmanager
def step_context(context: StepContext) -> Iterator[StepContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
