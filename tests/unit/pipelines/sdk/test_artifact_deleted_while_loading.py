"""An artifact version pruned while a process loads it: a clear error, never a half-read value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from pipelines.models import Artifact, ArtifactVersion, Pipeline, PipelineRun, StepRun, StepRunOutput
from pipelines.sdk.artifact_access import ArtifactVersionDeleted
from pipelines.sdk.client import Client
from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.source import source_of
from pipelines.sdk.stores import ArtifactFilesMissing, ArtifactIntegrityError, join_uri
from pipelines.services.retention import prune_execute, prune_plan
from pipelines.storage import artifact_store
from tests.unit.dashboard_data import use_fresh_store
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

pytestmark = pytest.mark.django_db

# What happens between reading the first and the second file (the test decides).
BETWEEN: list[Callable[[], None]] = []


class TwoPartMaterializer(BaseMaterializer):
    """Reads its two files one after the other, as a real materializer of a folder does."""

    ASSOCIATED_TYPES = ()

    def load(self, data_type: type) -> Any:
        with self.artifact_store.open(join_uri(self.uri, "a.bin"), "rb") as handle:
            first = handle.read()
        for hook in BETWEEN:
            hook()
        with self.artifact_store.open(join_uri(self.uri, "b.bin"), "rb") as handle:
            second = handle.read()
        return first + second

    def save(self, data: Any) -> None:  # pragma: no cover (written by the test itself)
        raise NotImplementedError


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path, monkeypatch):
    use_fresh_store(settings, tmp_path)
    # Read the store only: an in-process server has no streaming download.
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", "store")
    yield
    BETWEEN.clear()


@pytest.fixture
def client(api, monkeypatch) -> Client:
    client = Client(server_url="http://pipelines.test", api_token="unused")
    monkeypatch.setattr(client, "_http", lambda: InProcessTransport(api))
    return client


def old_version() -> ArtifactVersion:
    pipeline = Pipeline.objects.create(name="training")
    run = PipelineRun.objects.create(pipeline=pipeline, name="old", spec={}, status="completed")
    PipelineRun.objects.filter(id=run.id).update(created_at=run.created_at - timedelta(days=40))
    step = StepRun.objects.create(pipeline_run=run, name="make", source="s:make", spec={}, status="completed")
    store = artifact_store()
    uri = store.uri_for(run_id=run.id, step_run_id=step.id, attempt=1, output_index=0)
    Path(uri).mkdir(parents=True)
    (Path(uri) / "a.bin").write_bytes(b"a" * 5000)
    (Path(uri) / "b.bin").write_bytes(b"b" * 5000)
    checksum, size = store.checksum(uri)
    version = ArtifactVersion.objects.create(
        artifact=Artifact.objects.create(name="parts"),
        version="1",
        number=1,
        uri=uri,
        materializer=source_of(TwoPartMaterializer),
        data_type="builtins.bytes",
        checksum=checksum,
        size=size,
        producer_step_run=step,
        producer_attempt=1,
    )
    StepRunOutput.objects.create(step_run=step, name="output", artifact_version=version)
    return version


def test_it_loads_whole_when_nothing_interferes(client):
    version = old_version()

    assert client.get_artifact_version(version.id).load() == b"a" * 5000 + b"b" * 5000


def test_a_version_pruned_while_it_loads_says_so_instead_of_returning_half(client):
    version = old_version()
    handle = client.get_artifact_version(version.id)
    BETWEEN.append(lambda: prune_execute(plan=prune_plan(older_than=timedelta(days=30))))

    with pytest.raises(ArtifactVersionDeleted) as caught:
        handle.load()

    message = str(caught.value)
    assert f"Artifact version {version.id} was deleted while this process was loading it" in message
    assert "was deleted by prune at" in message
    assert "parts:1" in message
    assert isinstance(caught.value, ArtifactFilesMissing)  # what callers already catch


def test_files_missing_from_a_version_that_still_exists_are_not_blamed_on_prune(client):
    version = old_version()
    handle = client.get_artifact_version(version.id)
    BETWEEN.append(lambda: (Path(version.uri) / "b.bin").unlink())

    with pytest.raises(ArtifactIntegrityError, match="do not match the checksum") as caught:
        handle.load()

    assert not isinstance(caught.value, ArtifactVersionDeleted)


def test_the_api_says_a_pruned_version_was_deleted_by_prune(api):
    version = old_version()
    prune_execute(plan=prune_plan(older_than=timedelta(days=30)))

    for url in (
        reverse("artifact-version-detail", kwargs={"pk": version.id}),
        reverse("artifact-version-download", kwargs={"pk": version.id}),
    ):
        response = api.get(url)
        assert response.status_code == 404
        assert f"Artifact version {version.id} (parts:1) was deleted by prune at" in response.json()["detail"]
    other = api.get(reverse("artifact-version-detail", kwargs={"pk": version.id + 1000}))
    assert other.status_code == 404
    assert "prune" not in other.json()["detail"]
