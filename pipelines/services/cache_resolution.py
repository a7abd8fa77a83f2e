"""Resolving cache hits where steps become ready, without a worker.

A step whose inputs are known and whose earlier twin left intact outputs is marked
`cached` in the same transaction that made it ready, so a fully cached chain costs
no broker message, no worker and no claim per step. A step that missed is queued and
runs; its twin finishing meanwhile does not make it a hit (no second lookup on the
worker, which would cost every step a query).
"""

from __future__ import annotations

from django.utils import timezone

from pipelines.engine.cache import cache_key, find_cached_outputs
from pipelines.models import (
    ArtifactKind,
    ArtifactVersionStatus,
    PipelineRun,
    RunMetadata,
    StepRun,
    StepRunInput,
    StepRunOutput,
    StepStatus,
)
from pipelines.services.external_inputs import external_input_ids
from pipelines.services.model_versions import model_version_link_artifacts
from pipelines.services.transitions import move_steps


def step_runs_resolve_cached(*, run: PipelineRun, step_run_ids: list[int]) -> set[int]:
    """Mark the given pending, ready steps that hit the cache as cached; return their ids."""
    specs: dict[int, dict] = {}
    model_versions: dict[int, int | None] = {}
    for step_id, spec, model_version_id in StepRun.objects.filter(id__in=step_run_ids).values_list(
        "id", "spec", "model_version_id"
    ):
        if spec.get("enable_cache", True):
            specs[step_id] = spec
            model_versions[step_id] = model_version_id
    if not specs:
        return set()
    upstream_names = {ref["step"] for spec in specs.values() for ref in spec.get("inputs", {}).values()}
    produced = {
        (step_name, output_name): version_id
        for step_name, output_name, version_id in StepRunOutput.objects.filter(
            step_run__pipeline_run_id=run.id,
            step_run__name__in=upstream_names,
            artifact_version__status=ArtifactVersionStatus.READY,
        ).values_list("step_run__name", "name", "artifact_version_id")
    }
    cached: set[int] = set()
    for step_id, spec in specs.items():
        refs = spec.get("inputs", {})
        inputs = {name: produced.get((ref["step"], ref["output"])) for name, ref in refs.items()}
        inputs.update(external_input_ids(spec))  # checked ready when the run was created
        if None in inputs.values():
            continue
        key = cache_key(spec, inputs)  # type: ignore[arg-type]
        hit = find_cached_outputs(key=key, step_spec=spec, exclude_id=step_id)
        if hit is None:
            continue
        source, outputs = hit
        now = timezone.now()
        if not move_steps(
            [step_id],
            source=[StepStatus.PENDING],
            target=StepStatus.CACHED,
            cache_key=key,
            cached_from=source,
            queued_at=now,
            finished_at=now,
        ):
            continue
        StepRunOutput.objects.bulk_create(
            [StepRunOutput(step_run_id=step_id, name=name, artifact_version_id=av) for name, av in outputs.items()]
        )
        # The step run's own version (its model's, else its pipeline's), with each
        # output's kind from its ArtifactConfig, as the worker links a step it ran:
        # a reused model output that became `data` left the run's version without a model.
        if model_version_id := model_versions[step_id]:
            model_version_link_artifacts(
                model_version_id=model_version_id,
                links={av: _output_kind(spec, name) for name, av in outputs.items()},
            )
        _copy_step_metadata(source_id=source.id, step_run_id=step_id)
        StepRunInput.objects.bulk_create(
            [StepRunInput(step_run_id=step_id, name=name, artifact_version_id=av) for name, av in inputs.items()]
        )
        cached.add(step_id)
    return cached


def _output_kind(spec: dict, output_name: str) -> str:
    for output in spec.get("outputs", []):
        if output["name"] == output_name and (output.get("artifact") or {}).get("is_model_artifact"):
            return ArtifactKind.MODEL
    return ArtifactKind.DATA


def _copy_step_metadata(*, source_id: int, step_run_id: int) -> None:
    """Give the cached step run its source's step metadata, as ZenML does: what the
    step logged about itself (`log_metadata` in the step, an accuracy say) is what
    readers of this run look up on its steps. The whole history is copied in order, so
    the latest per key is the source's; `logged_by` keeps naming the step that logged it.
    """
    RunMetadata.objects.bulk_create(
        [
            RunMetadata(
                key=entry.key,
                value=entry.value,
                type=entry.type,
                step_run_id=step_run_id,
                logged_by_id=entry.logged_by_id,
            )
            for entry in RunMetadata.objects.filter(step_run_id=source_id).order_by("id")
        ]
    )
