"""The answer to `POST /api/v1/runs/`: the new run as `PipelineRunDetailSerializer`
shows it, in one statement whatever its size (three once a worker took a step).

Reading a new run back through `runs_with_steps` and serializing it with DRF cost a
1,001-step submission about a second of this machine's CPU (six prefetch queries over
every step, then DRF's field-by-field walk), more than creating it did. A step no
worker has claimed yet (attempt 0, pending or queued) has no input or output links:
inputs are recorded at an attempt's end, outputs by the worker or a cache hit (which
makes it `cached`), so its steps are one plain statement (`run_detail.with_steps`)
with empty links. Once a step has moved on by the time this reads (a cache hit; a
fast worker may already have run one), the links and metadata are read as for any
run's detail (until a step runs, nothing logs to the run). Metadata that someone
logs through the API on the new run or an unclaimed step within these milliseconds is
not shown; the next read shows it. A test pins the two paths against each other.
"""

from __future__ import annotations

from typing import Any

from pipelines import access
from pipelines.api.run_detail import with_steps
from pipelines.api.serializers import run_representation
from pipelines.models import PipelineRun, StepStatus

_UNCLAIMED = (StepStatus.PENDING, StepStatus.QUEUED)


def submitted_run_representation(user: access.User, run: PipelineRun) -> dict[str, Any]:
    """What `PipelineRunDetailSerializer` gives for `run` as `pipeline_run_create`
    returned it (its pipeline and user loaded), as `user` may see it."""
    if not access.may_read(user):
        raise PipelineRun.DoesNotExist("The run is not visible to this user.")
    return with_steps(run_representation(run), run.id, read_related=_any_claimed)


def _any_claimed(steps: list[dict[str, Any]]) -> bool:
    """Whether a worker (or a cache hit) already took one of the new run's steps:
    only then can a link or metadata exist (see above)."""
    return any(step["attempt"] or step["status"] not in _UNCLAIMED for step in steps)
