"""The legal moves of a step run, and the one function that makes them.

A move is a conditional update (`WHERE status IN (...)`, plus the attempt when an
attempt makes it) whose row count says whether it happened, so two processes
racing for the same step can never both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipelines.models import StepRun, StepStatus

S = StepStatus
STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    # pending -> cached is a cache hit resolved as the step becomes ready.
    S.PENDING: frozenset({S.QUEUED, S.CACHED, S.SKIPPED, S.STOPPED}),
    S.QUEUED: frozenset({S.RUNNING, S.STOPPED}),
    # running -> queued is a crashed attempt being retried.
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.RETRYING, S.QUEUED, S.STOPPED}),
    S.RETRYING: frozenset({S.QUEUED, S.STOPPED}),
    S.COMPLETED: frozenset(),
    S.CACHED: frozenset(),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
    S.STOPPED: frozenset(),
}


class IllegalTransition(Exception):
    """A service asked for a move the state machine does not allow (a programming error)."""


def check_transition(source: str, target: str) -> None:
    if target not in STEP_TRANSITIONS[source]:
        raise IllegalTransition(f"A step cannot go from {source} to {target}.")


def move_steps(
    step_run_ids: Iterable[int],
    *,
    source: Iterable[str],
    target: str,
    current_attempt: int | None = None,
    extra_filter: dict[str, Any] | None = None,
    **fields: Any,
) -> int:
    """Move the given steps that are in one of `source` to `target`; return how many moved."""
    sources = list(source)
    for status in sources:
        check_transition(status, target)
    query = StepRun.objects.filter(id__in=list(step_run_ids), status__in=sources, **(extra_filter or {}))
    if current_attempt is not None:
        query = query.filter(attempt=current_attempt)
    return query.update(status=target, **fields)
