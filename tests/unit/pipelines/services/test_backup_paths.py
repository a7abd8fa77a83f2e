"""A restore copies only the store folders a backup wrote: a manifest naming another
folder ("../..", an absolute path) is refused before anything reaches the store."""

from __future__ import annotations

import json

import pytest

from pipelines.services.backups import BackupError, artifact_store_backup_restore, artifact_store_backup_write
from tests.unit.dashboard_data import use_fresh_store
from tests.unit.pipelines.services.test_retention import run_with_output

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


@pytest.mark.parametrize("folder", ["../outside", "/", "store-0/../../outside", 7])
def test_a_manifest_naming_a_folder_outside_the_backup_is_refused(tmp_path, settings, folder):
    run_with_output("old")
    backup = tmp_path / "backup"
    artifact_store_backup_write(folder=backup)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "private.txt").write_text("not the store's")
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["stores"][0]["folder"] = folder
    manifest["stores"][0]["files"] = 1
    (backup / "manifest.json").write_text(json.dumps(manifest))
    new_store = tmp_path / "new"
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": str(new_store)}

    with pytest.raises(BackupError, match="is damaged"):
        artifact_store_backup_restore(folder=backup)
    assert not list(new_store.rglob("private.txt"))
