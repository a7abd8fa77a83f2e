"""Retention: delete old finished runs and the artifact versions nothing uses any more.

What goes (`prune_plan`): finished runs older than `older_than` and/or beyond the
newest `keep_last` of their pipeline (given both, a run goes only when neither rule
keeps it), never a run still in progress, never a run a model version in a live
stage (staging, production) links to: as the run's or a step's model version, or
through an artifact version the run produced. Archived and unstaged model versions
protect no run, but every artifact version any model version links to is kept.
An artifact version goes with its runs when they produced it and no other run (as
input or output) and no model version uses it; versions saved from a script
(`save_artifact` outside a step) are never pruned.

How (`prune_execute`), so that an interrupted prune run again finishes the job and
no reader that can still find a row finds its files gone:

1. Per batch of runs, one transaction deletes the runs (their steps, links and
   metadata go with them), writes a `PrunedArtifactVersion` tombstone for each
   freed version and deletes the version rows. Interrupted, the transaction rolls
   back: nothing happened to that batch.
2. After the commits, the files of every tombstone not yet finished are deleted,
   then the tombstone is marked. Interrupted, the next prune finds the unmarked
   tombstones and deletes their files (deleting is idempotent). Rows go first so
   that no new reader finds a row whose files are gone; a reader that loaded the row
   before the commit and reads the files as they vanish gets a clear error naming
   the prune (the tombstone says so), never a half-read value: every load checks
   the checksum of what it read.

Files are not deleted while a backup holds a `BackupLease` (step 2 waits for the
next prune): the backup's database dump may still name them, and its store copy,
taken after the dump, must hold them. The lease is checked after step 1 commits, so
a dump that starts later sees the rows already gone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from pipelines.models import (
    FINISHED_RUN_STATUSES,
    FINISHED_STEP_STATUSES,
    ArtifactVersion,
    BackupLease,
    ModelStage,
    ModelVersionArtifact,
    Pipeline,
    PipelineRun,
    PrunedArtifactVersion,
    StepRun,
    StepRunInput,
    StepRunOutput,
)
from pipelines.services.metrics import metrics_totals_fold_runs
from pipelines.storage import store_for_uri

logger = logging.getLogger(__name__)

LIVE_STAGES = (ModelStage.STAGING, ModelStage.PRODUCTION)
# Runs deleted per transaction: short transactions, bounded lists in each query.
BATCH_RUNS = 100
CHUNK = 500
# The uri of a step's output (`ArtifactStore.uri_for`), as opposed to a saved version.
STEP_OUTPUT_URI = re.compile(r"/runs/\d+/steps/\d+/attempt-\d+/\d+/?$")


class PruneError(ValueError):
    """Options that select nothing sensible; the message says what to give."""


@dataclass(frozen=True)
class PrunedVersion:
    id: int
    artifact_name: str
    version: str
    uri: str
    size: int


@dataclass
class PrunePlan:
    """What a prune would delete, computed without changing anything."""

    runs: list[tuple[int, str]] = field(default_factory=list)  # (id, name), oldest first
    # Runs the age/count rules selected but a model version in a live stage links to.
    protected_runs: list[tuple[int, str]] = field(default_factory=list)
    versions: list[PrunedVersion] = field(default_factory=list)
    # Tombstones of an earlier, interrupted prune whose files are still there.
    leftover_files: int = 0
    leftover_bytes: int = 0

    @property
    def bytes(self) -> int:
        return sum(version.size for version in self.versions)


@dataclass
class PruneResult:
    runs_deleted: int = 0
    versions_deleted: int = 0
    files_deleted: int = 0
    bytes_freed: int = 0
    # Tombstones whose files wait: a backup holds its lease, or the store failed.
    files_waiting: int = 0
    errors: list[str] = field(default_factory=list)


def _chunks(values: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- selection (reads only) --------------------------------------------------------------


def _selected_runs(
    *, pipeline: Pipeline, older_than: timedelta | None, keep_last: int | None, now: datetime
) -> list[tuple[int, str]]:
    """Finished runs of `pipeline` that neither keep rule keeps, oldest first."""
    runs = PipelineRun.objects.filter(pipeline=pipeline)
    recent_ids: set[int] = set()
    if keep_last is not None:
        # The newest N runs of the pipeline, whatever their status, are kept.
        recent_ids = set(runs.order_by("-created_at", "-id").values_list("id", flat=True)[:keep_last])
    selected = runs.filter(status__in=FINISHED_RUN_STATUSES)
    if older_than is not None:
        selected = selected.filter(created_at__lt=now - older_than)
    # A finished run whose step is somehow still going is left alone all the same.
    selected = selected.exclude(steps__in=StepRun.objects.exclude(status__in=FINISHED_STEP_STATUSES))
    return [
        (run_id, name)
        for run_id, name in selected.order_by("created_at", "id").values_list("id", "name")
        if run_id not in recent_ids
    ]


def _protected(run_ids: list[int]) -> set[int]:
    """Those of `run_ids` a model version in a live stage links to."""
    protected: set[int] = set()
    for chunk in _chunks(run_ids):
        protected |= set(
            PipelineRun.objects.filter(id__in=chunk)
            .filter(
                Q(model_version__stage__in=LIVE_STAGES)
                | Q(steps__model_version__stage__in=LIVE_STAGES)
                | Q(steps__produced_versions__model_links__model_version__stage__in=LIVE_STAGES)
            )
            .values_list("id", flat=True)
        )
    return protected


def _versions_freed(run_ids: set[int]) -> list[PrunedVersion]:
    """Artifact versions the runs `run_ids` produced that nothing else would use
    once they are gone: no other run's step links to them (input or output), no
    model version does."""
    step_ids: set[int] = set()
    for chunk in _chunks(run_ids):
        step_ids |= set(StepRun.objects.filter(pipeline_run_id__in=chunk).values_list("id", flat=True))
    candidates: set[int] = set()
    for chunk in _chunks(step_ids):
        candidates |= set(
            StepRunOutput.objects.filter(step_run_id__in=chunk).values_list("artifact_version_id", flat=True)
        )
        candidates |= set(ArtifactVersion.objects.filter(producer_step_run_id__in=chunk).values_list("id", flat=True))
        # A run's input whose producing run went in an earlier prune (kept then
        # because this run used it): a step output nobody produces any more.
        for version_id, uri in StepRunInput.objects.filter(
            step_run_id__in=chunk, artifact_version__producer_step_run__isnull=True
        ).values_list("artifact_version_id", "artifact_version__uri"):
            if STEP_OUTPUT_URI.search(uri):
                candidates.add(version_id)
    used: set[int] = set()
    for chunk in _chunks(candidates):
        for links in (StepRunOutput.objects, StepRunInput.objects):
            for version_id, run_id in links.filter(artifact_version_id__in=chunk).values_list(
                "artifact_version_id", "step_run__pipeline_run_id"
            ):
                if run_id not in run_ids:
                    used.add(version_id)
        used |= set(
            ModelVersionArtifact.objects.filter(artifact_version_id__in=chunk).values_list(
                "artifact_version_id", flat=True
            )
        )
    # A step still to run may name a version as an external input (ExternalArtifact):
    # until it records its inputs, only its spec says so.
    for refs in (
        StepRun.objects.exclude(status__in=FINISHED_STEP_STATUSES)
        .filter(spec__has_key="external_inputs")
        .values_list("spec__external_inputs", flat=True)
    ):
        if isinstance(refs, dict):
            used |= {ref for ref in refs.values() if isinstance(ref, int)}
    freed = []
    for chunk in _chunks(sorted(candidates - used)):
        freed += [
            PrunedVersion(id=row[0], artifact_name=row[1], version=row[2] or "", uri=row[3], size=row[4])
            for row in ArtifactVersion.objects.filter(id__in=chunk)
            .order_by("id")
            .values_list("id", "artifact__name", "version", "uri", "size")
        ]
    return freed


def prune_plan(
    *,
    older_than: timedelta | None = None,
    keep_last: int | None = None,
    pipeline_name: str | None = None,
    use_pipeline_settings: bool = False,
    now: datetime | None = None,
) -> PrunePlan:
    """What `prune_execute` would delete. With `use_pipeline_settings`, each pipeline's
    own `retention_keep_runs`/`retention_keep_days` apply (pipelines with neither are
    left alone) and `older_than`/`keep_last` must not be given."""
    now = now or timezone.now()
    if use_pipeline_settings:
        if older_than is not None or keep_last is not None:
            raise PruneError("Give either the pipelines' own retention settings or --older-than/--keep-last, not both.")
    elif older_than is None and keep_last is None:
        raise PruneError("Say what to prune: --older-than (e.g. 30d) and/or --keep-last N.")
    if keep_last is not None and keep_last < 0:
        raise PruneError(f"--keep-last must be 0 or more, not {keep_last}.")
    if keep_last is not None and keep_last > MAX_KEEP_LAST:
        raise PruneError(f"--keep-last must be at most {MAX_KEEP_LAST}, not {keep_last}.")
    if older_than is not None and older_than < timedelta(0):
        raise PruneError("--older-than must not be negative.")
    pipelines = Pipeline.objects.order_by("name")
    if pipeline_name is not None:
        pipelines = pipelines.filter(name=pipeline_name)
        if not pipelines.exists():
            raise PruneError(f"There is no pipeline named {pipeline_name!r}.")
    plan = PrunePlan()
    for pipeline in pipelines:
        if use_pipeline_settings:
            if pipeline.retention_keep_runs is None and pipeline.retention_keep_days is None:
                continue
            days = pipeline.retention_keep_days
            rules = {
                "older_than": timedelta(days=days) if days is not None else None,
                "keep_last": pipeline.retention_keep_runs,
            }
        else:
            rules = {"older_than": older_than, "keep_last": keep_last}
        selected = _selected_runs(pipeline=pipeline, now=now, **rules)
        protected = _protected([run_id for run_id, _ in selected])
        plan.runs += [run for run in selected if run[0] not in protected]
        plan.protected_runs += [run for run in selected if run[0] in protected]
    plan.versions = _versions_freed({run_id for run_id, _ in plan.runs})
    leftovers = PrunedArtifactVersion.objects.filter(files_deleted_at__isnull=True)
    plan.leftover_files = leftovers.count()
    plan.leftover_bytes = sum(leftovers.values_list("size", flat=True))
    return plan


# --- deletion ------------------------------------------------------------------------------


def _delete_batch(run_ids: list[int], *, now: datetime) -> tuple[int, int]:
    """Phase 1 for one batch: runs, tombstones and version rows in one transaction."""
    with transaction.atomic():
        # Checked again inside the transaction: a run may have been re-run into
        # progress, or a model version promoted, since the plan was made.
        still = set(
            PipelineRun.objects.select_for_update()
            .filter(id__in=run_ids, status__in=FINISHED_RUN_STATUSES)
            .exclude(steps__in=StepRun.objects.exclude(status__in=FINISHED_STEP_STATUSES))
            .values_list("id", flat=True)
        )
        still -= _protected(sorted(still))
        if not still:
            return 0, 0
        freed = _versions_freed(still)
        PrunedArtifactVersion.objects.bulk_create(
            [
                PrunedArtifactVersion(
                    version_id=version.id,
                    artifact_name=version.artifact_name,
                    version=version.version,
                    uri=version.uri,
                    size=version.size,
                    pruned_at=now,
                )
                for version in freed
            ],
            ignore_conflicts=True,
        )
        # The /metrics step counters keep what these runs did (they stay monotonic).
        metrics_totals_fold_runs(run_ids=still)
        runs_deleted = PipelineRun.objects.filter(id__in=sorted(still)).delete()[1].get(PipelineRun._meta.label, 0)
        versions_deleted = 0
        for chunk in _chunks([version.id for version in freed]):
            deleted = ArtifactVersion.objects.filter(id__in=chunk).delete()[1]
            versions_deleted += deleted.get(ArtifactVersion._meta.label, 0)
    return runs_deleted, versions_deleted


def backup_in_progress(*, now: datetime | None = None) -> BackupLease | None:
    return BackupLease.objects.filter(expires_at__gt=now or timezone.now()).order_by("-expires_at").first()


def pruned_files_delete(*, result: PruneResult | None = None) -> PruneResult:
    """Phase 2: delete the files of every tombstone not finished yet (this prune's and
    an interrupted one's), unless a backup is in progress."""
    result = result or PruneResult()
    waiting = PrunedArtifactVersion.objects.filter(files_deleted_at__isnull=True).order_by("id")
    lease = backup_in_progress()
    if lease is not None:
        result.files_waiting += waiting.count()
        logger.info("Not deleting pruned files while the backup %s holds its lease.", lease)
        return result
    for tombstone in waiting.iterator():
        try:
            store_for_uri(tombstone.uri).remove(tombstone.uri)
        except ValueError as exc:
            # Not a uri of any store we can name: nothing to delete there, ever.
            logger.warning("Not removing %s: %s", tombstone.uri, exc)
        except Exception as exc:  # the store is away (OSError, obstore's errors): next time
            result.files_waiting += 1
            result.errors.append(f"{tombstone.uri}: {type(exc).__name__}: {exc}")
            continue
        marked = PrunedArtifactVersion.objects.filter(id=tombstone.id, files_deleted_at__isnull=True).update(
            files_deleted_at=timezone.now()
        )
        if marked:
            result.files_deleted += 1
            result.bytes_freed += tombstone.size
    return result


def prune_execute(*, plan: PrunePlan, now: datetime | None = None) -> PruneResult:
    """Delete what `plan` names (rechecked), then the files nothing uses any more."""
    now = now or timezone.now()
    result = PruneResult()
    run_ids = [run_id for run_id, _ in plan.runs]
    for batch in _chunks(run_ids, BATCH_RUNS):
        try:
            runs, versions = _delete_batch(batch, now=now)
        except (IntegrityError, ProtectedError) as exc:
            # A new run started using one of the versions while we decided: this
            # batch rolled back whole; the next prune decides again.
            result.errors.append(f"runs {batch[0]}..{batch[-1]} left for the next prune: {exc}")
            continue
        result.runs_deleted += runs
        result.versions_deleted += versions
    return pruned_files_delete(result=result)


def pipelines_prune_by_retention() -> PruneResult:
    """Apply every pipeline's own retention settings (the daily periodic task)."""
    plan = prune_plan(use_pipeline_settings=True)
    result = prune_execute(plan=plan)
    if result.runs_deleted or result.files_deleted or result.errors:
        logger.info(
            "Retention: deleted %d runs, %d artifact versions, %d files (%d bytes); %d files wait; %s",
            result.runs_deleted,
            result.versions_deleted,
            result.files_deleted,
            result.bytes_freed,
            result.files_waiting,
            "; ".join(result.errors) or "no errors",
        )
    return result


_UNCHANGED: object = object()


def pipeline_set_retention(
    *, pipeline: Pipeline, keep_runs: int | object | None = _UNCHANGED, keep_days: int | object | None = _UNCHANGED
) -> Pipeline:
    """Change a pipeline's retention settings (only those given; None clears one)."""
    changed = []
    for field_name, value in (("retention_keep_runs", keep_runs), ("retention_keep_days", keep_days)):
        if value is _UNCHANGED:
            continue
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise PruneError(f"{field_name} must be a whole number of at least 1, or null to keep everything.")
        setattr(pipeline, field_name, value)
        changed.append(field_name)
    if changed:
        pipeline.save(update_fields=changed)
    return pipeline


def pruned_version_note(version_id: int) -> str | None:
    """Why the files of `version_id` are gone, when prune deleted it."""
    tombstone = PrunedArtifactVersion.objects.filter(version_id=version_id).first()
    if tombstone is None:
        return None
    return (
        f"artifact version {version_id} ({tombstone.artifact_name}:{tombstone.version}) was deleted by prune at "
        f"{tombstone.pruned_at:%Y-%m-%d %H:%M:%S} UTC"
    )


# --- words ---------------------------------------------------------------------------------

_AGE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# The bounds of an age and of --keep-last: a pipeline's retention settings' own (the API's).
MAX_AGE_DAYS = 100_000
MAX_KEEP_LAST = 10**9


def parse_age(text: str) -> timedelta:
    """'30d', '12h', '2w', '90m' as a timedelta; PruneError naming the form otherwise."""
    match = _AGE.match(text or "")
    if match is None:
        raise PruneError(
            f"--older-than {text!r} is not an age: give a number and a unit, m (minutes), h (hours), "
            "d (days) or w (weeks), e.g. 30d."
        )
    number, unit = int(match.group(1)), _AGE_UNITS[match.group(2)]
    age = timedelta(days=MAX_AGE_DAYS + 1) if number > MAX_AGE_DAYS * 24 * 60 else timedelta(**{unit: number})
    if age > timedelta(days=MAX_AGE_DAYS):
        # Older than the calendar goes back: a date before year 1 is an OverflowError (a 500).
        raise PruneError(f"--older-than {text!r} is too long ago: give at most {MAX_AGE_DAYS}d.")
    return age


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def plan_lines(plan: PrunePlan, *, limit: int | None = None) -> list[str]:
    """The plan in words, one line each: the summary first, then every run and version."""
    lines = [
        f"{len(plan.runs)} runs, {len(plan.versions)} artifact versions, "
        f"{human_bytes(plan.bytes)} of files ({plan.bytes} bytes)"
    ]
    if plan.protected_runs:
        lines.append(f"{len(plan.protected_runs)} runs kept: a model version in staging or production links to them")
    if plan.leftover_files:
        lines.append(
            f"{plan.leftover_files} files of an earlier, unfinished prune ({human_bytes(plan.leftover_bytes)}) "
            "are deleted too"
        )
    shown_runs = plan.runs if limit is None else plan.runs[:limit]
    lines += [f"run {run_id} {name}" for run_id, name in shown_runs]
    if len(shown_runs) < len(plan.runs):
        lines.append(f"... and {len(plan.runs) - len(shown_runs)} more runs")
    shown = plan.versions if limit is None else plan.versions[:limit]
    lines += [
        f"artifact version {version.id} {version.artifact_name}:{version.version} {human_bytes(version.size)} "
        f"at {version.uri}"
        for version in shown
    ]
    if len(shown) < len(plan.versions):
        lines.append(f"... and {len(plan.versions) - len(shown)} more artifact versions")
    return lines


def result_line(result: PruneResult) -> str:
    line = (
        f"deleted {result.runs_deleted} runs, {result.versions_deleted} artifact versions, "
        f"{result.files_deleted} files ({human_bytes(result.bytes_freed)})"
    )
    if result.files_waiting:
        line += (
            f"; the files of {result.files_waiting} versions wait (a backup in progress, or the store failed): "
            "the next prune deletes them"
        )
    return line
