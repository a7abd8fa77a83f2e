"""A run as `PipelineRunDetailSerializer` shows it, from a handful of flat reads.

The serializer's path (`selectors.runs_with_steps`: the run, then six prefetch
queries building a model instance per step, link, version and metadata row, then
DRF's field-by-field walk) cost gunicorn ~0.5 s of CPU for a finished 1,001-step run,
and it ran for every waiting client's last answer (`runs/<id>/wait/`) and every
`GET runs/<id>/`. Here the same answer is built from `.values()` rows: the run, its
steps, their input and output links with their versions, and the metadata of the
steps, the versions and the run, one statement each whatever the number of steps
(the links' metadata only when there are links). Every read starts from the
visible querysets of `pipelines.access`. A test pins the answer against the serializer.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from pipelines import access, selectors
from pipelines.api.serializers import VERSION_FIELDS, StepRunSerializer, iso_datetime, run_representation
from pipelines.models import PipelineRun, StepRun
from pipelines.selectors import latest_metadata

# StepRunSerializer's fields that read related rows; the others are the step's columns.
_RELATED = ("inputs", "outputs", "run_metadata")
STEP_COLUMNS = {
    name: {"pipeline_run": "pipeline_run_id", "cached_from": "cached_from_id"}.get(name, name)
    for name in StepRunSerializer.Meta.fields
    if name not in _RELATED
}
STEP_DATETIMES = tuple(
    name
    for name, column in STEP_COLUMNS.items()
    if StepRun._meta.get_field(column).get_internal_type() == "DateTimeField"
)
# version_representation's fields, as columns of a link joined to its version.
_VERSION_SOURCES = {
    "id": "id",
    "artifact": "artifact__name",
    "version": "version",
    "uri": "uri",
    "materializer": "materializer",
    "data_type": "data_type",
    "checksum": "checksum",
    "size": "size",
    "producer_step_run": "producer_step_run_id",
    "tags": "tags",
    "created_at": "created_at",
    "file_identities": "file_identities",
}
_VERSION_COLUMNS = {
    name: f"artifact_version__{_VERSION_SOURCES[name]}" if name != "run_metadata" else "" for name in VERSION_FIELDS
}


class _Metadata(NamedTuple):
    key: str
    value: Any
    type: str


def step_representation(row: dict[str, Any]) -> dict[str, Any]:
    """StepRunSerializer's fields of a `.values(*STEP_COLUMNS.values())` row, with
    empty links and metadata (the caller fills them)."""
    step = {name: row[column] for name, column in STEP_COLUMNS.items()}
    for name in STEP_DATETIMES:
        step[name] = iso_datetime(step[name])
    step["inputs"], step["outputs"], step["run_metadata"] = {}, {}, []
    return step


def run_detail_representation(user: access.User, run_id: int) -> dict[str, Any] | None:
    """What `PipelineRunDetailSerializer(selectors.runs_with_steps(user).get(id=run_id))`
    gives, or None when `user` may not see the run (or it is gone)."""
    # The spec holds every step's definition; the answer does not show it.
    run = selectors.runs_visible_to(user).defer("spec").filter(id=run_id).first()
    if run is None:
        return None
    return run_detail_of(user, run)


def run_detail_of(user: access.User, run: PipelineRun) -> dict[str, Any]:
    """`run_detail_representation` of a run just read (its pipeline and user loaded)."""
    data = run_representation(run)
    run_metadata = _metadata_rows(access.metadata_visible(user).filter(pipeline_run_id=run.id))
    data["run_metadata"] = latest_metadata(_Metadata(*row) for row in run_metadata)
    rows = access.steps_visible(user).filter(pipeline_run_id=run.id).order_by("id").values(*STEP_COLUMNS.values())
    steps = [step_representation(row) for row in rows]
    by_id = {step["id"]: step for step in steps}
    if steps:
        _add_links(user, run.id, by_id)
        _add_step_metadata(user, run.id, by_id)
    data["steps"] = steps
    return data


def _metadata_rows(queryset: Any, owner: str | None = None) -> Any:
    fields = ("key", "value", "type") if owner is None else (owner, "key", "value", "type")
    return queryset.order_by("id").values_list(*fields)


def _add_step_metadata(user: access.User, run_id: int, steps: dict[int, dict[str, Any]]) -> None:
    per_step: dict[int, list[_Metadata]] = defaultdict(list)
    queryset = access.metadata_visible(user).filter(step_run__pipeline_run_id=run_id)
    for step_id, key, value, kind in _metadata_rows(queryset, "step_run_id"):
        per_step[step_id].append(_Metadata(key, value, kind))
    for step_id, entries in per_step.items():
        if step_id in steps:
            steps[step_id]["run_metadata"] = latest_metadata(entries)


def _add_links(user: access.User, run_id: int, steps: dict[int, dict[str, Any]]) -> None:
    """Each step's `inputs` and `outputs`: link name -> its version's representation."""
    columns = ["step_run_id", "name", *(column for column in _VERSION_COLUMNS.values() if column)]
    links: list[tuple[str, dict[str, Any]]] = []
    for kind, visible in (("inputs", access.step_inputs_visible), ("outputs", access.step_outputs_visible)):
        # In id order, as the prefetch reads them.
        for row in visible(user).filter(step_run__pipeline_run_id=run_id).order_by("id").values(*columns):
            step = steps.get(row["step_run_id"])
            if step is None:
                continue
            # In the serializer's order of keys; the metadata is filled in below.
            version = {name: row[column] if name != "run_metadata" else [] for name, column in _VERSION_COLUMNS.items()}
            version["created_at"] = iso_datetime(version["created_at"])
            step[kind][row["name"]] = version
            links.append((kind, version))
    if not links:
        return
    per_version: dict[int, list[_Metadata]] = defaultdict(list)
    version_ids = {version["id"] for _, version in links}
    queryset = access.metadata_visible(user).filter(artifact_version_id__in=version_ids)
    for version_id, key, value, kind in _metadata_rows(queryset, "artifact_version_id"):
        per_version[version_id].append(_Metadata(key, value, kind))
    for _, version in links:
        version["run_metadata"] = latest_metadata(per_version.get(version["id"], ()))
