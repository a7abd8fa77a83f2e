"""The configured artifact store in the engine, services, reaper, checks and worker start.

Steps run in-process (publishing to the broker is intercepted, as in test_lifecycle);
S3 is moto's standalone server on a free local port (tests/s3_server.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.checks import run_checks
from django.utils import timezone

from pipelines.engine.executor import step_run_execute
from pipelines.models import ArtifactVersion, ArtifactVersionStatus, PipelineRun, StepRun, StepStatus
from pipelines.sdk.materializers.builtin import BuiltInContainerMaterializer
from pipelines.sdk.source import source_of
from pipelines.sdk.stores import store_for_uri
from pipelines.services.artifacts import (
    PendingOutput,
    artifact_version_finish_saved,
    artifact_version_start_saved,
    artifact_versions_reserve,
)
from pipelines.services.reaper import artifact_versions_cleanup_abandoned
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_run_claim, step_runs_reap_crashed
from pipelines.storage import artifact_store
from pipelines.worker_signals import refuse_an_unreachable_artifact_store
from tests.integration import sample_pipelines as sample
from tests.s3_server import free_port

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
def calls(tmp_path, monkeypatch):
    path = tmp_path / "calls.txt"
    monkeypatch.setenv(sample.CALLS_FILE_ENV, str(path))
    return lambda: path.read_text().split() if path.exists() else []


@pytest.fixture
def use_store(settings):
    def use(url: str) -> None:
        # One step per delivery, so a test can act between a step and the next.
        settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": url, "RUN_NEXT_STEP_INLINE": False}

    return use


def _run(pipeline, owner, broker, **params) -> PipelineRun:
    run = pipeline_run_create(spec=pipeline.compile(**params), user=owner)
    broker.drain()
    run.refresh_from_db()
    return run


def _output(run: PipelineRun, step: str) -> ArtifactVersion:
    return run.steps.get(name=step).output_links.get().artifact_version


def test_a_run_on_an_s3_store_writes_its_outputs_there_and_reads_them_back(
    owner, broker, use_store, s3_store_url, settings
):
    use_store(s3_store_url)

    run = _run(sample.numbers_pipeline, owner, broker, scale=2)

    assert dict(run.steps.values_list("name", "status")) == {"load": "completed", "total": "completed"}
    for step in ("load", "total"):
        version = _output(run, step)
        assert version.uri.startswith(f"{s3_store_url}/runs/{run.id}/steps/")
        assert store_for_uri(version.uri).verify(version.uri, version.checksum) == version.size
    assert _output(run, "total").size > 0
    assert not (Path(settings.DATA_DIR) / "artifacts" / "runs" / str(run.id)).exists()


# Enough numbers that the output is too large to be kept in its row (a small one is
# loaded from there, its files only a copy: see test_inline_artifacts.py).
FILE_BACKED_SIZE = 2000


def test_the_cache_never_serves_damaged_or_missing_s3_bytes(owner, broker, calls, use_store, s3_store_url):
    use_store(s3_store_url)
    first = _run(sample.cached_pipeline, owner, broker, size=FILE_BACKED_SIZE)
    stored = _output(first, "cached_source")
    store = store_for_uri(stored.uri)
    (relative, _), *_ = store.walk(stored.uri)
    with store.open(f"{stored.uri}/{relative}", "wb") as handle:
        handle.write(b"tampered")

    second = _run(sample.cached_pipeline, owner, broker, size=FILE_BACKED_SIZE)
    store.remove(_output(second, "cached_source").uri)
    third = _run(sample.cached_pipeline, owner, broker, size=FILE_BACKED_SIZE)

    assert second.steps.get(name="cached_source").status == StepStatus.COMPLETED
    assert third.steps.get(name="cached_source").status == StepStatus.COMPLETED
    assert calls().count("cached_source") == 3


def test_a_damaged_s3_input_fails_its_step_with_an_error_naming_the_uri(owner, broker, use_store, s3_store_url):
    use_store(s3_store_url)
    run = pipeline_run_create(spec=sample.cached_pipeline.compile(size=FILE_BACKED_SIZE), user=owner)
    step_run_execute(step_run_id=broker.sent.pop(0))  # cached_source
    numbers = _output(run, "cached_source")
    store = store_for_uri(numbers.uri)
    store.remove(numbers.uri)

    broker.drain()

    total = run.steps.get(name="cached_sum")
    assert total.status == StepStatus.FAILED
    assert f"{numbers.uri} are missing" in total.error


def test_a_version_written_under_an_earlier_store_is_read_after_the_setting_changes(
    owner, broker, use_store, s3_store_url, tmp_path
):
    use_store(str(tmp_path / "old-local-store"))
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=3), user=owner)
    step_run_execute(step_run_id=broker.sent.pop(0))  # load, written to the local folder
    use_store(s3_store_url)

    broker.drain()  # total reads load's output from the folder, writes to S3

    run.refresh_from_db()
    assert run.status == "completed"
    assert _output(run, "load").uri.startswith(str(tmp_path / "old-local-store"))
    total = _output(run, "total")
    assert total.uri.startswith(s3_store_url)
    with store_for_uri(total.uri).open(f"{total.uri}/data.json", "r") as handle:
        assert handle.read() == "18"


def test_the_reaper_removes_an_abandoned_attempts_files_from_s3(owner, broker, use_store, s3_store_url):
    use_store(s3_store_url)
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    load = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=load.id, worker="w")
    uri = artifact_store().uri_for(run_id=run.id, step_run_id=load.id, attempt=attempt, output_index=0)
    artifact_versions_reserve(
        step_run_id=load.id, attempt=attempt, outputs=[PendingOutput(name="numbers", artifact_name="numbers", uri=uri)]
    )
    with artifact_store().open(f"{uri}/partial.json", "wb") as handle:
        handle.write(b"[1, 2")
    StepRun.objects.filter(id=load.id).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    step_runs_reap_crashed(timeout=60, crash_budget=2)

    assert artifact_versions_cleanup_abandoned() == 1
    assert list(artifact_store().walk(uri)) == []
    assert not ArtifactVersion.objects.filter(uri=uri).exists()


def test_a_saved_version_is_finished_from_the_bytes_in_s3(owner, use_store, s3_store_url):
    use_store(s3_store_url)
    pending = artifact_version_start_saved(artifact_name="saved", version=None, tags=[], store=artifact_store())
    BuiltInContainerMaterializer(pending.uri).save([1, 2, 3])

    ready = artifact_version_finish_saved(
        version=pending,
        materializer=source_of(BuiltInContainerMaterializer),
        data_type="builtins.list",
        metadata=[],
        store=artifact_store(),
    )

    assert ready.status == ArtifactVersionStatus.READY
    assert ready.uri == f"{s3_store_url}/saved/{ready.id}"
    assert (ready.checksum, ready.size) == artifact_store().checksum(ready.uri)


# Refusing an unreachable store


def _unreachable_s3(monkeypatch, use_store) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    url = "s3://unreachable-bucket/artifacts"
    use_store(url)
    return url


def test_the_system_check_reports_an_unreachable_store_naming_the_url_and_cause(monkeypatch, use_store):
    url = _unreachable_s3(monkeypatch, use_store)

    errors = [error for error in run_checks() if error.id == "pipelines.E010"]

    assert len(errors) == 1
    assert url in errors[0].msg
    assert "Connection refused" in errors[0].msg
    assert "PIPELINES_ARTIFACT_STORE" in errors[0].hint


def test_the_system_check_passes_for_a_reachable_store(use_store, s3_store_url, tmp_path):
    for url in (s3_store_url, str(tmp_path / "local")):
        use_store(url)
        assert [error for error in run_checks() if error.id == "pipelines.E010"] == []


def test_a_worker_refuses_to_start_with_an_unreachable_store(monkeypatch, use_store):
    url = _unreachable_s3(monkeypatch, use_store)

    with pytest.raises(SystemExit, match=f"not starting the worker: The artifact store {url} cannot be reached"):
        refuse_an_unreachable_artifact_store(sender=SimpleNamespace(pool_cls="solo"))


def test_a_worker_starts_with_a_reachable_store(use_store, s3_store_url):
    use_store(s3_store_url)

    refuse_an_unreachable_artifact_store(sender=SimpleNamespace(pool_cls="solo"))


@pytest.mark.parametrize("url", ["ftp://host/x", "relative/folder", "s3://bucket/a/../b"])
def test_a_malformed_store_url_stops_the_settings_with_a_hint(url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PIPELINES_ARTIFACT_STORE": url, "PIPELINES_DATA_DIR": str(tmp_path)}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: PIPELINES_ARTIFACT_STORE" in result.stderr
    assert repr(url) in result.stderr
