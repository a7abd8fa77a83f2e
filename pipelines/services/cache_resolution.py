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
    StepRun,
    StepRunInput,
    StepRunOutput,
    StepStatus,
)
from pipelines.services.model_versions import model_version_link_artifacts
from pipelines.services.transitions import move_steps


def step_runs_resolve_cached(*, run: PipelineRun, step_run_ids: list[int]) -> set[int]:
    """Mark the given pending, ready steps that hit the cache as cached; return their ids."""
    specs = {
        step_id: spec
        for step_id, spec in StepRun.objects.filter(id__in=step_run_ids).values_list("id", "spec")
        if spec.get("enable_cache", True)
    }
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
        if run.model_version_id:
            model_version_link_artifacts(
                model_version_id=run.model_version_id, links=dict.fromkeys(outputs.values(), ArtifactKind.DATA)
            )
        StepRunInput.objects.bulk_create(
            [StepRunInput(step_run_id=step_id, name=name, artifact_version_id=av) for name, av in inputs.items()]
        )
        cached.add(step_id)
    return cached
