"""deploy/backup.sh and deploy/restore.sh, for real: runs with artifacts and a secret made
through a real worker, backed up (pg_dump, the artifact store, the keys), restored
into a fresh PostgreSQL database and a fresh store (a new folder, or a new S3 bucket
on moto), where every run shows, every artifact loads with its checksum and every
secret decrypts with the backed-up keys; with other keys, secrets fail clearly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.db import connection

from pipelines.models import ArtifactVersion, ArtifactVersionStatus, BackupLease, PipelineRun
from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.storage import store_for_uri
from secrets_app.services import secret_create
from tests.integration import sample_pipelines as sample
from tests.integration.conftest import start_worker, stop_worker
from tests.live_helpers import REPO

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the backup scripts back up PostgreSQL (pg_dump); the embedded default is a folder to copy",
    ),
]

SECRET_VALUES = {"user": "loader", "password": "hunter2-restore-canary"}


def database_url(name: str) -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def environment_file(path: Path, **values: str) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def run_script(script: str, argument: Path, env_file: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PIPELINES_ENV_FILE": str(env_file),
        "PIPELINES_PYTHON": sys.executable,
        # moto's endpoint and credentials, for the S3 case (the environment file could hold them too).
        **{name: value for name, value in os.environ.items() if name.startswith("AWS_")},
    }
    return subprocess.run(
        ["sh", str(REPO / "deploy" / script), str(argument)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def manage(env_file: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`manage.py` with the environment a machine's file gives (as deploy/manage.sh)."""
    env = {
        "PATH": os.environ["PATH"],
        **{name: value for name, value in os.environ.items() if name.startswith("AWS_")},
    }
    for line in env_file.read_text().splitlines():
        name, _, value = line.partition("=")
        env[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


READ_BACK = """
import json
from pipelines.models import ArtifactVersion, PipelineRun
from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.storage import store_for_uri
from secrets_app.selectors import secret_by_name

versions = {}
for v in ArtifactVersion.objects.filter(status="ready"):
    value = load_artifact_version(
        uri=v.uri, materializer=v.materializer, data_type=v.data_type, checksum=v.checksum, store=store_for_uri(v.uri)
    )
    versions[v.id] = {"uri": v.uri, "checksum": v.checksum, "value": repr(value)}
print(json.dumps({
    "runs": sorted([r.name, r.status, r.steps.count()] for r in PipelineRun.objects.all()),
    "versions": versions,
    "secret": secret_by_name(name="warehouse").decrypted_values(),
}))
"""


@pytest.fixture
def fresh_database():
    name = f"restore_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("store_kind", ["local", "s3"])
def test_a_backup_restores_on_a_fresh_machine(
    store_kind, running_worker, owner, settings, tmp_path, request, monkeypatch, fresh_database
):
    worker = None
    if store_kind == "s3":
        store_url = request.getfixturevalue("s3_store_url")
        # A queue of its own: only the worker started here, with the S3 store, runs the steps.
        settings.PIPELINES = {**settings.PIPELINES, "QUEUE": "backup-s3", "ARTIFACT_STORE": store_url}
        monkeypatch.setenv("PIPELINES_ARTIFACT_STORE", store_url)
        worker = start_worker(tmp_path / "s3-worker.log", queue="backup-s3", concurrency=2)
        new_store = f"s3://{request.getfixturevalue('s3_server').create_bucket()}/restored"
    else:
        store_url = settings.PIPELINES["ARTIFACT_STORE"]
        new_store = str(tmp_path / "new-machine" / "artifacts")
    try:
        runs = [sample.numbers_pipeline(scale=2), sample.numbers_pipeline(scale=5)]
    finally:
        if worker is not None:
            stop_worker(worker)
    assert [run.status for run in runs] == ["completed", "completed"]
    secret_create(name="warehouse", values=SECRET_VALUES, user=owner)
    originals = {
        version.id: {
            "uri": version.uri,
            "checksum": version.checksum,
            "value": repr(
                load_artifact_version(
                    uri=version.uri,
                    materializer=version.materializer,
                    data_type=version.data_type,
                    checksum=version.checksum,
                    store=store_for_uri(version.uri),
                )
            ),
        }
        for version in ArtifactVersion.objects.filter(status=ArtifactVersionStatus.READY)
    }
    assert len(originals) >= 4
    assert all(entry["uri"].startswith(store_url) for entry in originals.values())
    run_rows = sorted([run.name, run.status, run.steps.count()] for run in PipelineRun.objects.all())

    # --- this machine: back up --------------------------------------------------------------
    keys_file = tmp_path / "fernet_keys"
    keys_file.write_text("\n".join(django_settings.FERNET_KEYS) + "\n")
    old_machine = environment_file(
        tmp_path / "old.env",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        PIPELINES_DATA_DIR=str(django_settings.DATA_DIR),
        DATABASE_URL=database_url(connection.settings_dict["NAME"]),
        FERNET_KEYS_FILE=str(keys_file),
        DJANGO_SECRET_KEY="old-machine-secret-key",
        PIPELINES_ARTIFACT_STORE=store_url,
    )
    backup = tmp_path / "backup"

    made = run_script("backup.sh", backup, old_machine)

    assert made.returncode == 0, made.stdout + made.stderr
    assert (backup / "database.dump").stat().st_size > 0
    assert json.loads((backup / "artifacts" / "manifest.json").read_text())["stores"][0]["root"] == store_url
    assert (backup / "keys" / "fernet_keys").read_text().split() == list(django_settings.FERNET_KEYS)
    assert (backup / "keys" / "django_secret_key").read_text() == "old-machine-secret-key"
    assert oct((backup / "keys" / "fernet_keys").stat().st_mode & 0o777) == "0o600"
    assert not BackupLease.objects.exists()  # released when the script ended
    assert SECRET_VALUES["password"] not in made.stdout + made.stderr

    # --- a fresh machine: a new database, a new data folder, a new store ------------------
    new_machine = environment_file(
        tmp_path / "new.env",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        PIPELINES_DATA_DIR=str(tmp_path / "new-machine" / "data"),
        DATABASE_URL=database_url(fresh_database),
        FERNET_KEYS_FILE=str(backup / "keys" / "fernet_keys"),
        DJANGO_SECRET_KEY_FILE=str(backup / "keys" / "django_secret_key"),
        PIPELINES_ARTIFACT_STORE=new_store,
    )

    restored = run_script("restore.sh", backup, new_machine)

    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"{len(originals)} artifact versions verified" in restored.stdout
    assert "1 secrets decrypt" in restored.stdout
    read = manage(new_machine, "shell", "-c", READ_BACK)
    assert read.returncode == 0, read.stderr
    there = json.loads(read.stdout.strip().splitlines()[-1])
    assert there["runs"] == run_rows
    assert there["secret"] == SECRET_VALUES
    assert set(there["versions"]) == {str(version_id) for version_id in originals}
    for version_id, original in originals.items():
        copy = there["versions"][str(version_id)]
        assert copy["uri"] == new_store + original["uri"][len(store_url) :]
        assert copy["checksum"] == original["checksum"]
        assert copy["value"] == original["value"]

    # A second restore into the same database is refused: it is not empty.
    again = run_script("restore.sh", backup, new_machine)
    assert again.returncode != 0
    assert "is not empty" in again.stderr

    # Without the backed-up keys: every secret fails, clearly, and nothing else does.
    other_keys = tmp_path / "other_keys"
    other_keys.write_text(Fernet.generate_key().decode() + "\n")
    other = environment_file(
        tmp_path / "other.env",
        **{
            **dict(line.split("=", 1) for line in new_machine.read_text().splitlines()),
            "FERNET_KEYS_FILE": str(other_keys),
        },
    )
    checked = manage(other, "restore_check")
    assert checked.returncode != 0
    assert "Secret 'warehouse' cannot be decrypted: FERNET_KEYS lacks the key that encrypted it" in checked.stderr
    assert f"{len(originals)} artifact versions verified" in checked.stdout
    assert SECRET_VALUES["password"] not in checked.stdout + checked.stderr


def test_backup_sh_refuses_a_database_that_is_not_postgresql_and_a_folder_that_is_not_empty(tmp_path):
    sqlite = environment_file(
        tmp_path / "sqlite.env", DJANGO_SETTINGS_MODULE="config.settings.test", PIPELINES_DATA_DIR=str(tmp_path)
    )
    result = run_script("backup.sh", tmp_path / "backup", sqlite)
    assert result.returncode == 2
    assert "copy that folder instead" in result.stderr

    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    postgres = environment_file(
        tmp_path / "pg.env",
        DATABASE_URL=database_url(connection.settings_dict["NAME"]),
        FERNET_KEYS=Fernet.generate_key().decode(),
    )
    result = run_script("backup.sh", used, postgres)
    assert result.returncode == 2
    assert "is not empty" in result.stderr
