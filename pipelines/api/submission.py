"""The answer to `POST /api/v1/runs/`: the new run as `PipelineRunDetailSerializer`
shows it, in two statements whatever its size (three if a step has links already).

Reading a new run back through `runs_with_steps` and serializing it with DRF cost a
1,001-step submission about a second of this machine's CPU (six prefetch queries over
every step, then DRF's field-by-field walk), more than creating it did. A new run's
steps have, nearly always, no input or output links and no metadata yet, so each is
one `.values()` row; the few that do (a cache hit links its outputs at once, and a
worker may already have run a step by the time this reads) go through
`StepRunSerializer` as every other read does. A test pins the two against each other.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef

from pipelines import access, selectors
from pipelines.api.serializers import StepRunSerializer, iso_datetime, run_representation
from pipelines.models import PipelineRun, RunMetadata, StepRun, StepRunInput, StepRunOutput
from pipelines.selectors import latest_metadata

# StepRunSerializer's fields that read related rows: empty for a step without any.
_RELATED = ("inputs", "outputs", "run_metadata")
# The other fields, as the model's attribute names.
_COLUMNS = {
    name: {"pipeline_run": "pipeline_run_id", "cached_from": "cached_from_id"}.get(name, name)
    for name in StepRunSerializer.Meta.fields
    if name not in _RELATED
}
_DATETIMES = {
    name for name, column in _COLUMNS.items() if StepRun._meta.get_field(column).get_internal_type() == "DateTimeField"
}


def submitted_run_representation(user: access.User, run: PipelineRun) -> dict[str, Any]:
    """What `PipelineRunDetailSerializer` gives for `run` as `pipeline_run_create`
    returned it (its pipeline and user loaded), as `user` may see it."""
    if not access.may_read(user):
        raise PipelineRun.DoesNotExist("The run is not visible to this user.")
    data = run_representation(run)
    data["run_metadata"] = latest_metadata(run.metadata.all())
    data["steps"] = _step_representations(user, run.id)
    return data


def _step_representations(user: access.User, run_id: int) -> list[dict[str, Any]]:
    rows = (
        StepRun.objects.filter(pipeline_run_id=run_id)
        .annotate(
            _related=Exists(StepRunInput.objects.filter(step_run=OuterRef("pk")))
            | Exists(StepRunOutput.objects.filter(step_run=OuterRef("pk")))
            | Exists(RunMetadata.objects.filter(step_run=OuterRef("pk")))
        )
        .order_by("id")
        .values("_related", *_COLUMNS.values())
    )
    steps: list[dict[str, Any]] = []
    related: dict[int, int] = {}  # step run id -> its place in `steps`
    for row in rows:
        if row["_related"]:
            related[row["id"]] = len(steps)
            steps.append({})
            continue
        step = {name: row[column] for name, column in _COLUMNS.items()}
        for name in _DATETIMES:
            step[name] = iso_datetime(step[name])
        steps.append({**step, "inputs": {}, "outputs": {}, "run_metadata": []})
    if related:
        linked = selectors.steps_for_list(user).filter(id__in=related)
        for step in StepRunSerializer(linked, many=True).data:
            steps[related[step["id"]]] = step
    return steps
