"""The answer to `POST /api/v1/runs/`: the new run as `PipelineRunDetailSerializer`
shows it, in one statement whatever its size (three once a worker took a step).

Reading a new run back through `runs_with_steps` and serializing it with DRF cost a
1,001-step submission about a second of this machine's CPU (six prefetch queries over
every step, then DRF's field-by-field walk), more than creating it did. A step no
worker has claimed yet (attempt 0, pending or queued) has no input or output links:
inputs are recorded at an attempt's end, outputs by the worker or a cache hit (which
makes it `cached`), so it is one `.values()` row with empty links. The steps that have
moved on by the time this reads (a cache hit; a fast worker may already have run
one) go through `StepRunSerializer` as every other read does, and the run's metadata
is read only then (until a step runs, nothing logs to the run). Metadata that someone
logs through the API on the new run or an unclaimed step within these milliseconds is
not shown; the next read shows it. A test pins the two paths against each other.
"""

from __future__ import annotations

from typing import Any

from pipelines import access, selectors
from pipelines.api.serializers import StepRunSerializer, iso_datetime, run_representation
from pipelines.models import PipelineRun, StepRun, StepStatus
from pipelines.selectors import latest_metadata

# StepRunSerializer's fields that read related rows: empty for a step without any.
_RELATED = ("inputs", "outputs", "run_metadata")
# The other fields, as the model's attribute names.
_COLUMNS = {
    name: {"pipeline_run": "pipeline_run_id", "cached_from": "cached_from_id"}.get(name, name)
    for name in StepRunSerializer.Meta.fields
    if name not in _RELATED
}
_UNCLAIMED = (StepStatus.PENDING, StepStatus.QUEUED)
_DATETIMES = {
    name for name, column in _COLUMNS.items() if StepRun._meta.get_field(column).get_internal_type() == "DateTimeField"
}


def submitted_run_representation(user: access.User, run: PipelineRun) -> dict[str, Any]:
    """What `PipelineRunDetailSerializer` gives for `run` as `pipeline_run_create`
    returned it (its pipeline and user loaded), as `user` may see it."""
    if not access.may_read(user):
        raise PipelineRun.DoesNotExist("The run is not visible to this user.")
    data = run_representation(run)
    steps, any_claimed = _step_representations(user, run.id)
    # Only a step's code logs to its run (the API aside, see above): none has run yet
    # unless one was claimed.
    data["run_metadata"] = latest_metadata(run.metadata.all()) if any_claimed else []
    data["steps"] = steps
    return data


def _step_representations(user: access.User, run_id: int) -> tuple[list[dict[str, Any]], bool]:
    """The steps' representations, and whether any was claimed by a worker already."""
    rows = StepRun.objects.filter(pipeline_run_id=run_id).order_by("id").values(*_COLUMNS.values())
    steps: list[dict[str, Any]] = []
    moved_on: dict[int, int] = {}  # step run id -> its place in `steps`
    for row in rows:
        if row["attempt"] or row["status"] not in _UNCLAIMED:
            moved_on[row["id"]] = len(steps)
            steps.append({})
            continue
        step = {name: row[column] for name, column in _COLUMNS.items()}
        for name in _DATETIMES:
            step[name] = iso_datetime(step[name])
        steps.append({**step, "inputs": {}, "outputs": {}, "run_metadata": []})
    if moved_on:
        for step in StepRunSerializer(selectors.steps_for_list(user).filter(id__in=moved_on), many=True).data:
            steps[moved_on[step["id"]]] = step
    return steps, bool(moved_on)
