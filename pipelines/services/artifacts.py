"""Artifact versions from the producer's side: reserved as pending before an attempt
writes its files, made ready (numbered, checksummed, linked) when it completes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from pipelines.models import Artifact, ArtifactVersion, ArtifactVersionStatus, StepRun, StepRunOutput, StepStatus
from pipelines.sdk.naming import InvalidName, artifact_version_problem, name_problem
from pipelines.sdk.stores import ArtifactStore, store_for_uri
from pipelines.services.metadata import run_metadata_create
from pipelines.services.transitions import move_artifact_version


class ArtifactVersionTaken(ValueError):
    """A step asked for a fixed artifact version that already exists."""


class AttemptSuperseded(Exception):
    """The attempt no longer owns its step (it was reaped, stopped or finished)."""


@dataclass(frozen=True)
class SavedOutput:
    name: str
    artifact_version_id: int
    materializer: str
    data_type: str
    checksum: str
    size: int
    metadata: tuple[dict[str, Any], ...] = ()
    tags: tuple[str, ...] = ()
    version: str | None = None  # a fixed version name; None numbers it
    kind: str = "data"  # how it links to the run's model version: data or model
    # A small output's files kept in its row (see artifact_saving.INLINE_LIMIT), written
    # with the ready move; None for one whose files are only in the store.
    inline_files: dict[str, str] | None = None
    # What the writer established of its files (ArtifactVersion.file_identities).
    file_identities: dict[str, Any] | None = None


@dataclass(frozen=True)
class PendingOutput:
    name: str
    artifact_name: str
    uri: str
    # A fixed version name from ArtifactConfig; None numbers it automatically.
    version: str | None = None


def artifact_versions_reserve(*, step_run_id: int, attempt: int, outputs: list[PendingOutput]) -> dict[str, int]:
    """Record the outputs an attempt is about to write, as pending versions.

    A pending version is invisible to readers and to the cache; if the attempt never
    finishes, the cleanup finds its files through it.
    """
    reserved = {}
    with transaction.atomic():
        owner = StepRun.objects.select_for_update().filter(id=step_run_id, status=StepStatus.RUNNING, attempt=attempt)
        if not owner.exists():
            raise AttemptSuperseded(f"Attempt {attempt} of step run {step_run_id} no longer owns it.")
        for output in outputs:
            artifact, _ = Artifact.objects.get_or_create(name=output.artifact_name)
            if output.version is not None and artifact.versions.filter(version=output.version).exists():
                raise ArtifactVersionTaken(
                    f"Artifact {output.artifact_name!r} already has a version {output.version!r}, and versions "
                    "never change. Give this output another version in its ArtifactConfig, or leave the "
                    "version out to number it automatically."
                )
            version = ArtifactVersion.objects.create(
                artifact=artifact,
                status=ArtifactVersionStatus.PENDING,
                uri=output.uri,
                producer_step_run_id=step_run_id,
                producer_attempt=attempt,
            )
            reserved[output.name] = version.id
    return reserved


def _next_version_number(artifact_id: int) -> int:
    latest = (
        ArtifactVersion.objects.filter(artifact_id=artifact_id)
        .exclude(number=None)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    return (latest or 0) + 1


class ArtifactVersionNotPending(ValueError):
    """The version was made ready already, or cleaned up as abandoned."""


def _make_ready(version: ArtifactVersion, *, fixed_version: str | None, **fields: Any) -> None:
    """The one pending -> ready move: numbered (unless its version is fixed) and
    described. Call with the version's artifact row locked, which serialises numbering."""
    number = None if fixed_version else _next_version_number(version.artifact_id)
    if not move_artifact_version(
        version.id,
        source=ArtifactVersionStatus.PENDING,
        target=ArtifactVersionStatus.READY,
        version=fixed_version or str(number),
        number=number,
        **fields,
    ):
        raise ArtifactVersionNotPending(f"Artifact version {version.id} is not pending any more.")


def artifact_versions_make_ready(*, step_run_id: int, outputs: list[SavedOutput]) -> None:
    """Turn an attempt's pending versions ready, numbered, and link them as its outputs.

    Call inside the transaction that completes the step.
    """
    if not outputs:
        return
    pending = {
        v.id: v
        for v in ArtifactVersion.objects.filter(id__in=[o.artifact_version_id for o in outputs]).select_related(
            "artifact"
        )
    }
    # Artifacts are locked in name order so concurrent steps never deadlock.
    for output in sorted(outputs, key=lambda o: pending[o.artifact_version_id].artifact.name):
        version = pending[output.artifact_version_id]
        Artifact.objects.select_for_update().filter(id=version.artifact_id).first()
        _make_ready(
            version,
            fixed_version=output.version,
            materializer=output.materializer,
            data_type=output.data_type,
            checksum=output.checksum,
            size=output.size,
            tags=list(output.tags),
            **({"inline_files": output.inline_files} if output.inline_files else {}),
            **({"file_identities": output.file_identities} if output.file_identities else {}),
        )
        if output.metadata:
            run_metadata_create(entries=list(output.metadata), artifact_version_id=version.id, logged_by_id=step_run_id)
        StepRunOutput.objects.create(step_run_id=step_run_id, name=output.name, artifact_version_id=version.id)


def artifact_version_start_saved(
    *,
    artifact_name: str,
    version: str | None,
    tags: list[str],
    store: ArtifactStore,
    producer_step_run_id: int | None = None,
    producer_attempt: int = 0,
    created_by_id: int | None = None,
) -> ArtifactVersion:
    """A pending version for `save_artifact`; the caller writes its files to `.uri`.

    `created_by_id` (and the producer step attempt) say who may finish it. Raises
    InvalidName for a name or version the naming rules refuse, whatever the caller."""
    problem = name_problem(artifact_name, what="Artifact name")
    if problem is None and version is not None:
        problem = artifact_version_problem(version)
    if problem is not None:
        raise InvalidName(problem)
    with transaction.atomic():
        artifact, _ = Artifact.objects.get_or_create(name=artifact_name)
        if version is not None and artifact.versions.filter(version=version).exists():
            raise ArtifactVersionTaken(
                f"Artifact {artifact_name!r} already has a version {version!r}, and versions never change; "
                "choose another version or leave it out to number it automatically."
            )
        pending = ArtifactVersion.objects.create(
            artifact=artifact,
            status=ArtifactVersionStatus.PENDING,
            uri=f"pending:{uuid.uuid4()}",
            tags=tags,
            producer_step_run_id=producer_step_run_id,
            producer_attempt=producer_attempt,
            created_by_id=created_by_id,
            # A fixed version is taken now (the unique constraint then stops a second
            # writer); a numbered one gets its number when it becomes ready.
            version=version,
        )
        pending.uri = store.uri_for_saved(version_id=pending.id)
        ArtifactVersion.objects.filter(id=pending.id).update(uri=pending.uri)
    return pending


def artifact_version_finish_saved(
    *,
    version: ArtifactVersion,
    materializer: str,
    data_type: str,
    metadata: list[dict[str, Any]],
    store: ArtifactStore,
) -> ArtifactVersion:
    """Make a saved version ready: the server checksums the files the caller wrote.

    They are read back here: the writer was another process, and the server does
    not take its word for what it wrote, nor for what identifies its files: the
    identities recorded for later loads are those of the files this read hashed.
    The version's own uri picks the store, so a version started before the store
    setting changed still finishes.
    """
    identities: dict[str, Any] = {}
    checksum, size = store_for_uri(version.uri, known=(store,)).checksum(version.uri, identities=identities)
    with transaction.atomic():
        Artifact.objects.select_for_update().filter(id=version.artifact_id).first()
        _make_ready(
            version,
            fixed_version=version.version,
            materializer=materializer,
            data_type=data_type,
            checksum=checksum,
            size=size,
            file_identities=identities,
        )
        if metadata:
            run_metadata_create(
                entries=metadata, artifact_version_id=version.id, logged_by_id=version.producer_step_run_id
            )
    version.refresh_from_db()
    return version
