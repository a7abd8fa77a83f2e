"""Where a step runs and how long it may take: the rules for `queue=` and `timeout=`.

Checked when a step or pipeline is defined (`PipelineDefinitionError`) and again by
the spec compiler on both sides of the wire (`SpecError`), with the same messages.
Like `pipelines.sdk.naming`, each function returns None for a good value, else the
message that says how to fix it.
"""

from __future__ import annotations

import math

from pipelines.sdk.naming import name_problem

# A week: a longer limit is almost always a unit mistake (milliseconds for seconds).
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0


def queue_problem(value: object, *, where: str) -> str | None:
    """Why `value` cannot be the Celery queue of `where` (None if it can, or is None).

    Queue names follow the shared name rules: they appear in `celery worker -Q a,b`
    (so no comma or space) and in broker keys and file names."""
    if value is None:
        return None
    return name_problem(value, what=f"The queue of {where}")


def timeout_problem(value: object, *, where: str) -> str | None:
    """Why `value` cannot be the timeout of `where`, in seconds (None if it can, or is None)."""
    if value is None:
        return None
    if (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and 0 < value <= MAX_TIMEOUT_SECONDS
    ):
        return None
    return (
        f"The timeout of {where} must be a number of seconds above 0 and at most "
        f"{MAX_TIMEOUT_SECONDS:.0f} (a week), got {value!r}."
    )
