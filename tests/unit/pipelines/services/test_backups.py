"""The store copy of a backup and its restore (any store kind, through the store API),
the lease, and the restored installation's check."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from pipelines.models import ArtifactVersion, BackupLease, PrunedArtifactVersion
from pipelines.services.backups import (
    TOP_FOLDERS,
    BackupError,
    artifact_store_backup_restore,
    artifact_store_backup_write,
    backup_lease_acquire,
    restore_check,
)
from pipelines.services.retention import backup_in_progress
from secrets_app.services import secret_create
from tests.unit.dashboard_data import save_value, use_fresh_store
from tests.unit.pipelines.services.test_retention import run_with_output

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def test_the_top_folders_are_those_a_version_uri_may_start_with():
    assert set(TOP_FOLDERS) == {"runs", "saved", "registered"}


def test_a_lease_holds_until_released_or_expired():
    lease = backup_lease_acquire(holder="test", hours=1)
    assert backup_in_progress() == lease
    assert backup_in_progress(now=timezone.now() + timedelta(hours=2)) is None
    out = io.StringIO()
    call_command("backup_lease", "release", str(lease.id), stdout=out)
    assert not BackupLease.objects.exists()
    with pytest.raises(BackupError, match="at most 168 hours"):
        backup_lease_acquire(holder="test", hours=0)


def test_the_lease_command_prints_the_id_it_acquired():
    out = io.StringIO()
    call_command("backup_lease", "acquire", "--hours", "2", stdout=out)
    assert BackupLease.objects.get().id == int(out.getvalue())
    with pytest.raises(CommandError, match="Give the id"):
        call_command("backup_lease", "release")


def test_a_store_copy_restores_into_another_store_with_every_uri_moved(settings, tmp_path, owner):
    _, output = run_with_output("old", data=b"d" * 700)
    saved = save_value("notes", {"a": [1, 2, 3]})
    old_root = settings.PIPELINES["ARTIFACT_STORE"]
    PrunedArtifactVersion.objects.create(
        version_id=99, artifact_name="gone", uri=f"{old_root}/runs/9/steps/9/attempt-1/0", pruned_at=timezone.now()
    )
    copies = artifact_store_backup_write(folder=tmp_path / "backup")
    assert [(copy.root, copy.files) for copy in copies] == [(old_root, 2)]
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["stores"][0]["root"] == old_root

    new_root = str(tmp_path / "elsewhere" / "artifacts")
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": new_root}
    (done,) = artifact_store_backup_restore(folder=tmp_path / "backup")

    assert done[1] == 3  # two versions and the tombstone
    for version in (output, saved):
        moved = ArtifactVersion.objects.get(id=version.id)
        assert moved.uri == new_root + version.uri[len(old_root) :]
        assert Path(moved.uri).exists()
    assert PrunedArtifactVersion.objects.get().uri.startswith(new_root + "/runs/")
    secret_create(name="warehouse", values={"k": "v"}, user=owner)
    check = restore_check(load=True)
    assert (check.versions, check.secrets, check.problems) == (2, 1, [])
    # Run twice, it changes nothing more.
    assert artifact_store_backup_restore(folder=tmp_path / "backup")[0][1] == 0


def test_a_missing_or_damaged_file_is_a_problem_the_check_names(tmp_path):
    _, output = run_with_output("old")
    (Path(output.uri) / "data.bin").write_bytes(b"changed")

    check = restore_check()

    assert check.versions == 0
    assert f"artifact version {output.id}" in check.problems[0]
    with pytest.raises(CommandError, match="1 problems"):
        call_command("restore_check", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_backup_folder_must_be_new_and_a_restore_folder_a_backup(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(BackupError, match="is not empty"):
        artifact_store_backup_write(folder=tmp_path / "used")
    with pytest.raises(CommandError, match=r"holds no manifest\.json"):
        call_command("artifact_store_restore", "--from", str(tmp_path / "used"))
    (tmp_path / "used" / "manifest.json").write_text("{not json")
    with pytest.raises(BackupError, match="is damaged"):
        artifact_store_backup_restore(folder=tmp_path / "used")


def test_an_incomplete_copy_is_refused(tmp_path, settings):
    run_with_output("old")
    artifact_store_backup_write(folder=tmp_path / "backup")
    for path in (tmp_path / "backup" / "store-0").rglob("*.bin"):
        path.unlink()
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": str(tmp_path / "new")}

    with pytest.raises(BackupError, match="the backup is incomplete"):
        artifact_store_backup_restore(folder=tmp_path / "backup")
