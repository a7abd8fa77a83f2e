"""Artifact versions from the producer's side: reserved as pending before an attempt
writes its files, made ready (numbered, checksummed, linked) when it completes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from pipelines.models import Artifact, ArtifactVersion, ArtifactVersionStatus, StepRun, StepRunOutput, StepStatus
from pipelines.sdk.naming import InvalidName, artifact_version_problem, name_problem
from pipelines.sdk.stores import ArtifactStore, store_for_uri
from pipelines.services import hot_sql
from pipelines.services.metadata import run_metadata_create
from pipelines.services.transitions import move_artifact_version


class ArtifactVersionTaken(ValueError):
    """A step asked for a fixed artifact version that already exists."""


class AttemptSuperseded(Exception):
    """The attempt no longer owns its step (it was reaped, stopped or finished)."""


@dataclass(frozen=True)
class SavedOutput:
    name: str
    # The version reserved for it (`artifact_versions_reserve`), or None for an output
    # that was not: it is created ready by `artifact_versions_make_ready`, named
    # `artifact_name`, at `uri`.
    artifact_version_id: int | None
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
    artifact_name: str = ""
    uri: str = ""


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


def artifact_versions_make_ready(*, step_run_id: int, attempt: int, outputs: list[SavedOutput]) -> dict[str, int]:
    """Record an attempt's outputs as ready versions, numbered, linked as its outputs;
    returns their ids by output name.

    A reserved output's pending version is made ready; one that was not reserved (a
    small output, kept in its row: see the executor's `_reserve_outputs`) is created
    ready here, in one statement. Call inside the transaction that completes the step.
    """
    if not outputs:
        return {}
    reserved = [o.artifact_version_id for o in outputs if o.artifact_version_id is not None]
    pending = (
        {v.id: v for v in ArtifactVersion.objects.filter(id__in=reserved).select_related("artifact")}
        if reserved
        else {}
    )

    def artifact_name(output: SavedOutput) -> str:
        return pending[output.artifact_version_id].artifact.name if output.artifact_version_id else output.artifact_name

    ids = {}
    # Artifacts are locked in name order so concurrent steps never deadlock.
    for output in sorted(outputs, key=artifact_name):
        fields = {
            "materializer": output.materializer,
            "data_type": output.data_type,
            "checksum": output.checksum,
            "size": output.size,
            "tags": list(output.tags),
            **({"inline_files": output.inline_files} if output.inline_files else {}),
            **({"file_identities": output.file_identities} if output.file_identities else {}),
        }
        if output.artifact_version_id is None:
            version_id = _create_ready_output(
                artifact_id=_lock_artifact(output.artifact_name),
                output=output,
                step_run_id=step_run_id,
                attempt=attempt,
                fields=fields,
            )
        else:
            version = pending[output.artifact_version_id]
            _lock_artifact(version.artifact.name)
            _make_ready(version, fixed_version=output.version, **fields)
            version_id = version.id
            _link_output(step_run_id, output.name, version_id)
        ids[output.name] = version_id
        if output.metadata:
            run_metadata_create(entries=list(output.metadata), artifact_version_id=version_id, logged_by_id=step_run_id)
    return ids


def _link_output(step_run_id: int, name: str, version_id: int) -> None:
    hot_sql.execute(
        f"INSERT INTO {_OUTPUTS} (step_run_id, name, artifact_version_id) VALUES (%s, %s, %s)",  # noqa: S608
        [step_run_id, name, version_id],
    )


_ARTIFACTS = f'"{Artifact._meta.db_table}"'
_VERSIONS = f'"{ArtifactVersion._meta.db_table}"'
_OUTPUTS = f'"{StepRunOutput._meta.db_table}"'


def _lock_artifact(name: str) -> int:
    """The id of the artifact named `name`, made if new, its row locked until the
    transaction ends: that serialises the numbering of its versions."""
    lock = " FOR NO KEY UPDATE" if connection.vendor == "postgresql" else ""
    select = f"SELECT id FROM {_ARTIFACTS} WHERE name = %s{lock}"  # noqa: S608 (our table name)
    rows = hot_sql.execute(select, [name])
    if not rows:
        # Made by a concurrent step in between: ON CONFLICT leaves theirs, the select finds it.
        hot_sql.execute(
            f"INSERT INTO {_ARTIFACTS} (name, tags, created_at) VALUES (%s, %s, %s) "  # noqa: S608
            "ON CONFLICT (name) DO NOTHING",
            [name, "[]", hot_sql.db_datetime(timezone.now())],
        )
        rows = hot_sql.execute(select, [name])
    return rows[0][0]


def _create_ready_output(
    *, artifact_id: int, output: SavedOutput, step_run_id: int, attempt: int, fields: dict[str, Any]
) -> int:
    """Insert a ready version of a locked artifact, numbered after its latest unless
    its version is fixed, and link it as the step's output; its id. A fixed version
    that exists already raises ArtifactVersionTaken (and the caller's transaction is
    rolled back). On PostgreSQL in one statement (a data-modifying WITH)."""
    fixed_version = output.version
    meta = ArtifactVersion._meta
    values = {
        "artifact_id": artifact_id,
        "status": ArtifactVersionStatus.READY,
        "uri": output.uri,
        "producer_step_run_id": step_run_id,
        "producer_attempt": attempt,
        "created_at": timezone.now(),
        "file_identities": {},
        **fields,
    }
    columns = [meta.get_field(name).column for name in values]
    params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()]
    placeholders = ["%s"] * len(values)
    if fixed_version is not None:
        if ArtifactVersion.objects.filter(artifact_id=artifact_id, version=fixed_version).exists():
            raise ArtifactVersionTaken(
                f"Artifact version {fixed_version!r} exists already, and versions never change. Give this "
                "output another version in its ArtifactConfig, or leave the version out to number it automatically."
            )
        columns.append("version")
        placeholders.append("%s")
        params.append(fixed_version)
    else:
        # Numbered after the latest, found through the (artifact, number) index; the
        # artifact's lock keeps the number unique. (VALUES, not INSERT ... SELECT:
        # there the parameters would not take their columns' types.)
        latest = f"(SELECT COALESCE(MAX(number), 0) + 1 FROM {_VERSIONS} WHERE artifact_id = %s)"  # noqa: S608
        columns += ["version", "number"]
        placeholders += [f"CAST({latest} AS TEXT)", latest]
        params += [artifact_id, artifact_id]
    insert = (
        f"INSERT INTO {_VERSIONS} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(placeholders)}) RETURNING id"
    )
    if connection.vendor != "postgresql":
        version_id = hot_sql.execute(insert, params)[0][0]
        _link_output(step_run_id, output.name, version_id)
        return version_id
    linked = (
        f"WITH created AS ({insert}) INSERT INTO {_OUTPUTS} (step_run_id, name, artifact_version_id) "  # noqa: S608
        "SELECT %s, %s, id FROM created RETURNING artifact_version_id"
    )
    return hot_sql.execute(linked, [*params, step_run_id, output.name])[0][0]


# --- from the consumer's side ------------------------------------------------------------
_INPUT_FIELDS = (
    "id",
    "artifact_id",
    "status",
    "version",
    "number",
    "uri",
    "materializer",
    "data_type",
    "checksum",
    "size",
    "inline_files",
    "file_identities",
)


def step_output_versions(*, run_id: int, step_names: set[str]) -> dict[tuple[str, str], ArtifactVersion]:
    """The ready versions the named steps of a run recorded as outputs, by (step,
    output), each with its artifact's name: what a step's inputs point at. One
    plain statement, as a step runs it before each attempt."""
    if not step_names:
        return {}
    meta = ArtifactVersion._meta
    columns = ", ".join(f"v.{connection.ops.quote_name(meta.get_field(name).column)}" for name in _INPUT_FIELDS)
    names = ", ".join(["%s"] * len(step_names))
    sql = (
        f"SELECT s.name, o.name, a.name, {columns} FROM {_OUTPUTS} o "  # noqa: S608 (our names)
        f'JOIN "{StepRun._meta.db_table}" s ON s.id = o.step_run_id '
        f"JOIN {_VERSIONS} v ON v.id = o.artifact_version_id JOIN {_ARTIFACTS} a ON a.id = v.artifact_id "
        f"WHERE s.pipeline_run_id = %s AND s.name IN ({names}) AND v.status = %s"
    )
    found = {}
    for step, output, artifact_name, *values in hot_sql.execute(
        sql, [run_id, *sorted(step_names), ArtifactVersionStatus.READY]
    ):
        row = dict(zip(_INPUT_FIELDS, values, strict=True))
        for name in ("inline_files", "file_identities"):
            row[name] = meta.get_field(name).from_db_value(row[name], None, connection)
        version = ArtifactVersion.from_db(connection.alias, list(row), list(row.values()))
        version.artifact = Artifact(id=row["artifact_id"], name=artifact_name)
        found[(step, output)] = version
    return found


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
