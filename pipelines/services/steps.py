"""The state machine of a step run: pending -> queued -> running -> completed | failed.

Every transition is a conditional update whose row count is checked, and a step
attempt's final write is fenced by its attempt number, so a late or duplicate
delivery can never overwrite the outcome of the attempt that owns the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from pipelines.dispatch import enqueue_steps_on_commit
from pipelines.models import (
    Artifact,
    ArtifactVersion,
    PipelineRun,
    StepRun,
    StepRunInput,
    StepRunOutput,
    StepStatus,
)
from pipelines.services.runs import pipeline_run_mark_running, pipeline_run_refresh_status

MAX_LOG_CHARS = 1_000_000


@dataclass(frozen=True)
class SavedOutput:
    name: str
    artifact_name: str
    uri: str
    materializer: str
    data_type: str
    checksum: str
    size: int


@dataclass(frozen=True)
class StepTimings:
    user_code_started_at: datetime | None
    user_code_finished_at: datetime | None


def _truncate_logs(logs: str) -> str:
    if len(logs) <= MAX_LOG_CHARS:
        return logs
    return logs[: MAX_LOG_CHARS // 2] + "\n[... log truncated ...]\n" + logs[-MAX_LOG_CHARS // 2 :]


def step_run_claim(*, step_run_id: int, worker: str) -> int | None:
    """Take a queued step for this worker. Returns the attempt number, or None when
    another delivery already owns the step (or it is no longer queued)."""
    now = timezone.now()
    claimed = StepRun.objects.filter(id=step_run_id, status=StepStatus.QUEUED).update(
        status=StepStatus.RUNNING,
        attempt=F("attempt") + 1,
        started_at=now,
        heartbeat_at=now,
        worker=worker[:255],
    )
    if not claimed:
        return None
    step_run = StepRun.objects.only("attempt", "pipeline_run_id").get(id=step_run_id)
    with transaction.atomic():
        pipeline_run_mark_running(run_id=step_run.pipeline_run_id)
        PipelineRun.objects.filter(id=step_run.pipeline_run_id).update(revision=F("revision") + 1)
    return step_run.attempt


def _lock_run(run_id: int) -> PipelineRun:
    # Serialises the end of steps within one run: two parallel branches finishing
    # together must not both miss that their join step has become ready.
    return PipelineRun.objects.select_for_update().get(id=run_id)


def _record_inputs(step_run: StepRun, inputs: dict[str, int]) -> None:
    StepRunInput.objects.bulk_create(
        [StepRunInput(step_run=step_run, name=name, artifact_version_id=av_id) for name, av_id in inputs.items()],
        ignore_conflicts=True,
    )


def _next_version_number(artifact: Artifact) -> int:
    latest = artifact.versions.exclude(number=None).order_by("-number").values_list("number", flat=True).first()
    return (latest or 0) + 1


def _create_artifact_versions(step_run: StepRun, outputs: list[SavedOutput]) -> None:
    # Artifacts are locked in name order so concurrent steps never deadlock.
    for output in sorted(outputs, key=lambda o: o.artifact_name):
        artifact, _ = Artifact.objects.get_or_create(name=output.artifact_name)
        artifact = Artifact.objects.select_for_update().get(id=artifact.id)
        number = _next_version_number(artifact)
        version = ArtifactVersion.objects.create(
            artifact=artifact,
            version=str(number),
            number=number,
            uri=output.uri,
            materializer=output.materializer,
            data_type=output.data_type,
            checksum=output.checksum,
            size=output.size,
            producer_step_run=step_run,
        )
        StepRunOutput.objects.create(step_run=step_run, name=output.name, artifact_version=version)


def _queue_ready_downstream(run: PipelineRun) -> None:
    rows = list(StepRun.objects.filter(pipeline_run_id=run.id).values_list("id", "name", "status", "upstream"))
    completed = {name for _, name, status, _ in rows if status == StepStatus.COMPLETED}
    ready = [
        step_id
        for step_id, _, status, upstream in rows
        if status == StepStatus.PENDING and all(name in completed for name in upstream)
    ]
    if not ready:
        return
    StepRun.objects.filter(id__in=ready, status=StepStatus.PENDING).update(
        status=StepStatus.QUEUED, queued_at=timezone.now()
    )
    enqueue_steps_on_commit(ready)


def _skip_unreachable(run: PipelineRun) -> None:
    """Mark every pending step downstream of a failed or skipped one as skipped."""
    rows = list(StepRun.objects.filter(pipeline_run_id=run.id).values_list("id", "name", "status", "upstream"))
    dead = {name for _, name, status, _ in rows if status in (StepStatus.FAILED, StepStatus.SKIPPED)}
    pending = {name: (step_id, upstream) for step_id, name, status, upstream in rows if status == StepStatus.PENDING}
    skipped: list[int] = []
    changed = True
    while changed:
        changed = False
        for name, (step_id, upstream) in list(pending.items()):
            if any(u in dead for u in upstream):
                dead.add(name)
                skipped.append(step_id)
                del pending[name]
                changed = True
    if skipped:
        StepRun.objects.filter(id__in=skipped, status=StepStatus.PENDING).update(
            status=StepStatus.SKIPPED, finished_at=timezone.now()
        )


def step_run_complete(
    *,
    step_run_id: int,
    attempt: int,
    inputs: dict[str, int],
    outputs: list[SavedOutput],
    timings: StepTimings,
    logs: str,
) -> bool:
    """Record a successful attempt and queue what became ready.

    Returns False (and changes nothing) when the attempt no longer owns the step.
    """
    step_run = StepRun.objects.only("id", "pipeline_run_id").get(id=step_run_id)
    with transaction.atomic():
        run = _lock_run(step_run.pipeline_run_id)
        owned = StepRun.objects.filter(id=step_run_id, status=StepStatus.RUNNING, attempt=attempt).update(
            status=StepStatus.COMPLETED,
            user_code_started_at=timings.user_code_started_at,
            user_code_finished_at=timings.user_code_finished_at,
            finished_at=timezone.now(),
            logs=_truncate_logs(logs),
        )
        if not owned:
            return False
        _record_inputs(step_run, inputs)
        _create_artifact_versions(step_run, outputs)
        _queue_ready_downstream(run)
        pipeline_run_refresh_status(run=run)
        PipelineRun.objects.filter(id=run.id).update(revision=F("revision") + 1)
    return True


def step_run_fail(
    *,
    step_run_id: int,
    attempt: int,
    error: str,
    inputs: dict[str, int],
    timings: StepTimings,
    logs: str,
) -> bool:
    """Record a failed attempt, skip what can no longer run, end the run if done."""
    step_run = StepRun.objects.only("id", "pipeline_run_id").get(id=step_run_id)
    with transaction.atomic():
        run = _lock_run(step_run.pipeline_run_id)
        owned = StepRun.objects.filter(id=step_run_id, status=StepStatus.RUNNING, attempt=attempt).update(
            status=StepStatus.FAILED,
            error=error,
            user_code_started_at=timings.user_code_started_at,
            user_code_finished_at=timings.user_code_finished_at,
            finished_at=timezone.now(),
            logs=_truncate_logs(logs),
        )
        if not owned:
            return False
        _record_inputs(step_run, inputs)
        _skip_unreachable(run)
        pipeline_run_refresh_status(run=run)
        PipelineRun.objects.filter(id=run.id).update(revision=F("revision") + 1)
    return True
