"""`register_artifact`: an existing file or folder in the artifact store becomes an
artifact version where it lies, without a copy (as ZenML's); and linking artifact
versions to model versions by hand (`link_artifact_to_model`)."""

from __future__ import annotations

import re
import uuid

from django.db import IntegrityError, transaction

from pipelines.models import Artifact, ArtifactVersion, ArtifactVersionStatus
from pipelines.sdk.naming import InvalidName, artifact_version_problem, name_problem
from pipelines.sdk.stores import ArtifactStore, join_uri
from pipelines.services.artifacts import ArtifactVersionTaken, _make_ready

# Registered files lie below <store root>/registered/<name>/ (see stores.base.VERSION_PATH).
REGISTERED_FOLDER = "registered"
_SEGMENT = re.compile(r"[A-Za-z0-9_.\-]+")
# Loads the files as they lie: a file as a Path to its copy, a folder as a Path to a
# folder holding copies of its files.
REGISTERED_MATERIALIZER = "pipelines.sdk.materializers.registered_path:RegisteredPathMaterializer"


class RegistrationRefused(ValueError):
    """The uri cannot be registered; the message says why."""


def _ancestors(uri: str) -> list[str]:
    parts = uri.rstrip("/").split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def artifact_version_register(
    *,
    uri: str,
    artifact_name: str,
    version: str | None,
    tags: list[str],
    store: ArtifactStore,
    created_by_id: int | None,
    producer_step_run_id: int | None = None,
    producer_attempt: int = 0,
) -> ArtifactVersion:
    """A ready version whose files are the ones at `uri`, checksummed here.

    `uri` must lie in the configured artifact store's `registered/<name>/` area (so
    every worker and the server can read it, and every process can tell its store
    from the uri), exist, and be no other version's file or folder, nor inside or
    around one (removing one version must never take another's files)."""
    problem = name_problem(artifact_name, what="Artifact name")
    if problem is None and version is not None:
        problem = artifact_version_problem(version)
    if problem is not None:
        raise InvalidName(problem)
    uri = uri.rstrip("/") if len(uri) > 1 else uri
    area = join_uri(store.root_uri, REGISTERED_FOLDER)
    inside = uri.removeprefix(area + "/") if uri.startswith(area + "/") else None
    if (
        inside is None
        or not store.contains(uri)
        or not _SEGMENT.fullmatch(inside.split("/")[0])
        or any(part in ("", ".", "..") for part in inside.split("/"))
    ):
        raise RegistrationRefused(
            f"{uri!r} is not inside the artifact store's area for registered files, {area}/<name>/...; "
            "write the file or folder there first (every worker and the server read it there), then "
            "register it. <name> is letters, digits, '_', '-' or '.'."
        )
    try:
        checksum, size = store.checksum(uri)
    except FileNotFoundError:
        raise RegistrationRefused(f"Nothing is stored at {uri!r}.") from None
    overlapping = ArtifactVersion.objects.filter(uri__in=[uri, *_ancestors(uri)]) | ArtifactVersion.objects.filter(
        uri__startswith=uri + "/"
    )
    taken = overlapping.select_related("artifact").first()
    if taken is not None:
        raise RegistrationRefused(
            f"{uri!r} overlaps the files of {taken.artifact.name} version {taken.version or taken.id} "
            f"({taken.uri}); register a folder of its own."
        )
    try:
        with transaction.atomic():
            artifact, _ = Artifact.objects.get_or_create(name=artifact_name)
            Artifact.objects.select_for_update().filter(id=artifact.id).first()  # serialise numbering
            if version is not None and artifact.versions.filter(version=version).exists():
                raise ArtifactVersionTaken(
                    f"Artifact {artifact_name!r} already has a version {version!r}, and versions never change; "
                    "choose another version or leave it out to number it automatically."
                )
            registered = ArtifactVersion.objects.create(
                artifact=artifact,
                status=ArtifactVersionStatus.PENDING,
                uri=f"pending:{uuid.uuid4()}",
                tags=list(tags),
                producer_step_run_id=producer_step_run_id,
                producer_attempt=producer_attempt,
                created_by_id=created_by_id,
                version=version,
            )
            _make_ready(
                registered,
                fixed_version=version,
                uri=uri,
                materializer=REGISTERED_MATERIALIZER,
                data_type="pathlib.Path",
                checksum=checksum,
                size=size,
            )
    except IntegrityError:
        raise RegistrationRefused(f"{uri!r} is registered already.") from None
    registered.refresh_from_db()
    return registered
