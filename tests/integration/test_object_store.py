"""Real worker processes with their artifacts in S3 (moto's server on a free port).

The worker is started with PIPELINES_ARTIFACT_STORE=s3://... and the AWS variables
in its environment; it shares no artifact folder with this process.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.models import ArtifactVersion, ArtifactVersionStatus
from pipelines.sdk.stores import store_for_uri
from tests.integration import store_pipelines
from tests.integration.conftest import start_worker, stop_worker
from tests.live_helpers import REPO
from tests.s3_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_pipeline_runs_on_a_real_worker_with_its_artifacts_in_s3(
    running_worker, settings, s3_store_url, tmp_path, monkeypatch
):
    # A queue of its own: only the worker started here, with the S3 store, runs the steps.
    settings.PIPELINES = {**settings.PIPELINES, "QUEUE": "s3-store", "ARTIFACT_STORE": s3_store_url}
    monkeypatch.setenv("PIPELINES_ARTIFACT_STORE", s3_store_url)
    worker = start_worker(tmp_path / "s3-worker.log", queue="s3-store", concurrency=2)
    try:
        run = store_pipelines.store_pipeline()
    finally:
        stop_worker(worker)

    assert run.status == "completed"
    array = run.steps["make_array"].output
    assert array.uri.startswith(f"{s3_store_url}/runs/")
    assert array.size > store_pipelines.ARRAY_BYTES
    assert int(array.load()[-1]) == store_pipelines.ARRAY_BYTES // 8 - 1
    summary = run.steps["summarize"].output.load()
    assert int(summary["size"][0]) == store_pipelines.ARRAY_BYTES // 8
    expected_total = sum(range(store_pipelines.ARRAY_BYTES // 8))
    assert run.steps["score"].output.load() == {"total": expected_total}
    assert run.steps["read_scores"].output.load() == expected_total
    saved = ArtifactVersion.objects.get(artifact__name="array_facts")
    assert saved.status == ArtifactVersionStatus.READY
    assert saved.uri == f"{s3_store_url}/saved/{saved.id}"
    for version in ArtifactVersion.objects.all():
        assert version.uri.startswith(s3_store_url)
        assert store_for_uri(version.uri).verify(version.uri, version.checksum) == version.size


def test_a_worker_with_an_unreachable_store_refuses_to_start(tmp_path, settings):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PIPELINES_DATA_DIR": str(tmp_path),
        "PIPELINES_ARTIFACT_STORE": "s3://no-such-store/artifacts",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--without-gossip"]

    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode != 0
    assert "not starting the worker: The artifact store s3://no-such-store/artifacts cannot be reached" in (
        result.stdout + result.stderr
    )
    assert "Connection refused" in result.stdout + result.stderr
