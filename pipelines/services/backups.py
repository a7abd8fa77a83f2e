"""Backups of the artifact store, for every store kind, and the lease that makes them
consistent with the database dump taken just before.

`deploy/backup.sh` takes a `BackupLease`, dumps the database, then copies the store
with `artifact_store_backup_write`, then releases the lease. Why this order gives a
consistent pair: a version's files are complete in the store before its row becomes
READY (the engine and `save_artifact` write, then mark), so every ready row in the
dump has its files in a store copy taken after the dump; and the only code that
deletes a ready version's files, `prune`, deletes its rows first and then deletes no
files while a lease is held (see `pipelines.services.retention`), so no file the
dump names disappears before the copy is made.

`deploy/restore.sh` restores the dump into a fresh database, then
`artifact_store_backup_restore` copies the files into the store this installation
is configured with and rewrites the versions' uris from the old store's root to the
new one (a new bucket, a new data folder), so every version loads there.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from pipelines.models import ArtifactVersion, BackupLease, PrunedArtifactVersion
from pipelines.sdk.stores import ArtifactStore, join_uri
from pipelines.sdk.stores.base import VERSION_PATH
from pipelines.storage import artifact_store, store_for_uri

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CHUNK_BYTES = 4 * 1024 * 1024
# The folders directly below a store's root that hold versions ('runs', 'saved',
# 'registered'): read from the one definition of a version uri.
TOP_FOLDERS = tuple(re.findall(r"(?:\(\?:|\|)([a-z]+)/", VERSION_PATH.pattern))
assert TOP_FOLDERS, "VERSION_PATH names no top folders"


class BackupError(ValueError):
    """A backup folder or option that cannot work; the message says what to do."""


@dataclass(frozen=True)
class StoreCopy:
    root: str
    folder: str
    files: int
    bytes: int


# --- the lease ---------------------------------------------------------------------------------


def backup_lease_acquire(*, holder: str, hours: float, now: datetime | None = None) -> BackupLease:
    """Hold prune's file deletion for `hours` (a backup that dies frees it by expiring)."""
    if not 0 < hours <= 7 * 24:
        raise BackupError(f"A backup lease lasts more than 0 and at most 168 hours, not {hours}.")
    now = now or timezone.now()
    return BackupLease.objects.create(holder=holder[:255], started_at=now, expires_at=now + timedelta(hours=hours))


def backup_lease_release(*, lease_id: int) -> bool:
    return BackupLease.objects.filter(id=lease_id).delete()[0] > 0


# --- copying a store ---------------------------------------------------------------------------


def _roots() -> list[str]:
    """The configured store's root, then every other root a recorded version names."""
    roots = [artifact_store().root_uri]
    seen = set(roots)
    for uri in ArtifactVersion.objects.values_list("uri", flat=True).iterator(chunk_size=2000):
        match = VERSION_PATH.search(uri)
        root = uri[: match.start()] if match else None
        if root is not None and root not in seen:
            seen.add(root)
            roots.append(root)
    return roots


def _store_of_root(root: str) -> ArtifactStore:
    # A root is no version uri; the store is found from a (virtual) file below it.
    return store_for_uri(join_uri(root, "saved/0"))


def _copy_out(store: ArtifactStore, root: str, target: Path) -> tuple[int, int]:
    files = total = 0
    for top in TOP_FOLDERS:
        folder_uri = join_uri(root, top)
        for relative, _size in store.walk(folder_uri):
            if relative and any(part in ("", ".", "..") for part in relative.split("/")):
                # An object key such as "saved/../../x" would be written outside the backup.
                raise BackupError(f"{join_uri(folder_uri, relative)!r} is not a path a backup can hold.")
            source = join_uri(folder_uri, relative) if relative else folder_uri
            destination = target / top / relative if relative else target / top
            destination.parent.mkdir(parents=True, exist_ok=True)
            with store.open(source, "rb") as reader, open(destination, "wb") as writer:
                while chunk := reader.read(CHUNK_BYTES):
                    writer.write(chunk)
                    total += len(chunk)
            files += 1
    return files, total


def artifact_store_backup_write(*, folder: Path) -> list[StoreCopy]:
    """Copy every store the installation uses into `folder` (which must be empty or
    new), with a manifest naming each store's root."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: give a new folder for the store copy.")
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for index, root in enumerate(_roots()):
        name = f"store-{index}"
        files, total = _copy_out(_store_of_root(root), root, folder / name)
        copies.append(StoreCopy(root=root, folder=name, files=files, bytes=total))
    manifest = {
        "format": 1,
        "created_at": timezone.now().isoformat(),
        "stores": [copy.__dict__ for copy in copies],
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return copies


def _read_manifest(folder: Path) -> list[StoreCopy]:
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
        copies = [StoreCopy(**entry) for entry in manifest["stores"]]
    except FileNotFoundError:
        raise BackupError(f"{folder} holds no {MANIFEST}: is it the artifacts folder of a backup?") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{Path(folder) / MANIFEST} is damaged ({exc}).") from None
    for copy in copies:
        # Only the folders the backup wrote: a manifest naming "../.." or "/" would copy
        # whatever the restoring user can read into the artifact store.
        if not (isinstance(copy.folder, str) and re.fullmatch(r"store-\d+", copy.folder)):
            raise BackupError(f"{Path(folder) / MANIFEST} is damaged (store folder {copy.folder!r}).")
    return copies


def _copy_in(source: Path, store: ArtifactStore, root: str) -> tuple[int, int]:
    files = total = 0
    for directory, _dirs, names in os.walk(source):
        for name in sorted(names):
            path = Path(directory) / name
            relative = path.relative_to(source).as_posix()
            with open(path, "rb") as reader, store.open(join_uri(root, relative), "wb") as writer:
                # Written aside and renamed (or uploaded whole): no half file in the store.
                shutil.copyfileobj(reader, writer, CHUNK_BYTES)
            files += 1
            total += path.stat().st_size
    return files, total


def artifact_store_backup_restore(*, folder: Path) -> list[tuple[StoreCopy, int]]:
    """Copy the backed-up files into the configured store and point every version
    (and tombstone) recorded under an old root at the new one.

    Returns each store copy with how many version uris were rewritten. Run after the
    database is restored; running it twice is harmless (files are overwritten with
    the same bytes, uris already rewritten match no old root).
    """
    folder = Path(folder)
    copies = _read_manifest(folder)
    target = artifact_store()
    target.check_reachable()
    new_root = target.root_uri
    done = []
    for copy in copies:
        files, _ = _copy_in(folder / copy.folder, target, new_root)
        if files != copy.files:
            raise BackupError(
                f"{folder / copy.folder} holds {files} files, the manifest says {copy.files}: the backup is incomplete."
            )
        rewritten = 0
        if copy.root != new_root:
            with transaction.atomic():
                for model in (ArtifactVersion, PrunedArtifactVersion):
                    rewritten += model.objects.filter(uri__startswith=copy.root + "/").update(
                        uri=Concat(Value(new_root), Substr("uri", len(copy.root) + 1))
                    )
        done.append((copy, rewritten))
    return done


# --- checking a restored installation --------------------------------------------------------


@dataclass
class RestoreCheck:
    runs: int = 0
    versions: int = 0
    bytes: int = 0
    secrets: int = 0
    problems: list[str] | None = None


def restore_check(*, load: bool = False) -> RestoreCheck:
    """Every ready version's files against its checksum (and, with `load`, through its
    materializer), and every secret decrypted with the configured keys. Values are
    never returned or shown."""
    from pipelines.models import ArtifactVersionStatus, PipelineRun
    from pipelines.sdk.artifact_loading import load_artifact_version
    from secrets_app.selectors import secrets_list

    check = RestoreCheck(problems=[])
    problems: list[str] = check.problems  # type: ignore[assignment]
    check.runs = PipelineRun.objects.count()
    versions = ArtifactVersion.objects.filter(status=ArtifactVersionStatus.READY).select_related("artifact")
    for version in versions.order_by("id").iterator(chunk_size=500):
        try:
            store = store_for_uri(version.uri)
            if load:
                load_artifact_version(
                    uri=version.uri,
                    materializer=version.materializer,
                    data_type=version.data_type,
                    checksum=version.checksum,
                    store=store,
                )
            elif version.checksum:
                store.verify(version.uri, version.checksum)
            elif not store.exists(version.uri):
                raise FileNotFoundError(version.uri)
        except Exception as exc:
            problems.append(f"artifact version {version.id} ({version.artifact.name}:{version.version}): {exc}")
            continue
        check.versions += 1
        check.bytes += version.size
    for secret in secrets_list():
        try:
            secret.decrypted_values()
        except Exception as exc:  # SecretUndecryptable names the secret, never a value
            problems.append(str(exc))
            continue
        check.secrets += 1
    return check
