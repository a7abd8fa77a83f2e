"""Every reader of a small version kept in its row (`ArtifactVersion.inline_files`)
gets its value when the store copy (written without an fsync) is lost or torn, as
after a power cut: the download route, the Client's load in each access mode, the
dashboard preview. A row that does not match its checksum is refused, naming why.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from pipelines.models import ArtifactVersion, PipelineRun
from pipelines.sdk.client import Client
from pipelines.sdk.stores import ArtifactIntegrityError
from pipelines.services.runs import pipeline_run_create
from pipelines.storage import store_for_uri
from tests.integration import sample_pipelines as sample
from tests.unit.dashboard_data import save_value, use_fresh_store
from tests.unit.pipelines.test_artifact_download import ApiTransport

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


@pytest.fixture
def sdk_client(api, owner_token, monkeypatch) -> Client:
    from pipelines.sdk import artifact_access

    monkeypatch.setattr(artifact_access, "_unreachable", {})
    monkeypatch.setattr(artifact_access, "_said", set())
    monkeypatch.delenv("PIPELINES_ARTIFACT_ACCESS", raising=False)
    client = Client(server_url="http://testserver", api_token=owner_token)
    client._session = ApiTransport(api)
    return client


def kept_in_row(name: str, value) -> ArtifactVersion:
    """A ready version of `value` whose files are also in its row, as the engine keeps
    a small output (the same files, so the one checksum covers both copies)."""
    saved = save_value(name, value)
    folder = Path(saved.uri)
    files = {path.relative_to(folder).as_posix(): path.read_text() for path in folder.rglob("*") if path.is_file()}
    ArtifactVersion.objects.filter(id=saved.id).update(inline_files=files)
    return ArtifactVersion.objects.get(id=saved.id)


def lose(version: ArtifactVersion) -> None:
    store_for_uri(version.uri).remove(version.uri)


def tear(version: ArtifactVersion) -> None:
    """Cut every file of the store copy in half, as a write a power cut interrupted."""
    for path in Path(version.uri).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])


def damage_row(version: ArtifactVersion) -> None:
    files = {name: text.replace("3", "4") for name, text in version.inline_files.items()}
    assert files != version.inline_files
    ArtifactVersion.objects.filter(id=version.id).update(inline_files=files)


def _download(api, version: ArtifactVersion):
    return api.get(reverse("artifact-version-download", kwargs={"pk": version.id}))


def _zip_files(response) -> dict[str, str]:
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    return {name: archive.read(name).decode() for name in archive.namelist()}


# --- the download route -------------------------------------------------------------


@pytest.mark.parametrize("harm", [lose, tear], ids=["lost", "torn"])
def test_the_download_route_sends_a_small_version_from_its_row_and_puts_the_store_copy_back(api, harm):
    version = kept_in_row("numbers", [1, 2, 3])
    harm(version)

    response = _download(api, version)

    assert response.status_code == 200
    assert _zip_files(response) == version.inline_files
    # The store copy is whole again, for every other reader.
    assert store_for_uri(version.uri).verify(version.uri, version.checksum) == version.size


def test_a_head_of_the_download_route_puts_the_copy_back_and_sends_no_bytes(api):
    version = kept_in_row("numbers", [1, 2, 3])
    lose(version)

    response = api.head(reverse("artifact-version-download", kwargs={"pk": version.id}))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b""
    assert store_for_uri(version.uri).verify(version.uri, version.checksum) == version.size


def test_a_row_that_does_not_match_its_checksum_is_a_409_saying_so(api):
    version = kept_in_row("numbers", [1, 2, 3])
    damage_row(version)
    lose(version)

    response = _download(api, version)

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "artifact_bytes_damaged"
    assert "database row does not match its checksum" in body["detail"]
    assert version.uri in body["detail"]
    assert not store_for_uri(version.uri).exists(version.uri)  # nothing wrong was put back


def test_the_dashboard_download_button_sends_it_too(client, owner):
    version = kept_in_row("numbers", [1, 2, 3])
    lose(version)
    client.force_login(owner)

    response = client.get(reverse("dashboard:artifact-version-download", args=[version.id]))

    assert response.status_code == 200
    assert _zip_files(response) == version.inline_files


# --- the Client's load ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "store", "server"])
@pytest.mark.parametrize("harm", [lose, tear], ids=["lost", "torn"])
def test_the_client_loads_a_small_version_whose_store_copy_was_lost_or_torn(sdk_client, monkeypatch, mode, harm):
    version = kept_in_row("numbers", [1, 2, 3])
    harm(version)
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", mode)

    assert sdk_client.get_artifact_version(version.id).load() == [1, 2, 3]
    if mode == "store":
        assert sdk_client._session.downloads == []  # put back by the server, read from the store


def test_a_torn_copy_is_read_from_the_store_again_once_put_back_not_downloaded(sdk_client):
    version = kept_in_row("numbers", [1, 2, 3])
    tear(version)

    assert sdk_client.get_artifact_version(version.id).load() == [1, 2, 3]
    assert sdk_client._session.downloads == []
    assert store_for_uri(version.uri).verify(version.uri, version.checksum) == version.size


@pytest.mark.parametrize("mode", ["auto", "store", "server"])
def test_the_client_refuses_a_damaged_row_naming_the_uri(sdk_client, monkeypatch, mode):
    version = kept_in_row("numbers", [1, 2, 3])
    damage_row(version)
    tear(version)
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", mode)

    with pytest.raises(ArtifactIntegrityError, match=re.escape(version.uri)):
        sdk_client.get_artifact_version(version.id).load()


def test_a_large_damaged_version_is_not_sent_to_the_server_to_be_put_back(sdk_client, monkeypatch):
    version = save_value("big", "x" * 10_000)
    tear(version)
    asked = []
    real = sdk_client._session.request
    monkeypatch.setattr(
        sdk_client._session, "request", lambda method, url, **kw: asked.append(method) or real(method, url, **kw)
    )

    with pytest.raises(ArtifactIntegrityError, match=re.escape(version.uri)):
        sdk_client.get_artifact_version(version.id).load()
    assert "HEAD" not in asked


# --- the dashboard preview -------------------------------------------------------------


def _preview(client, version: ArtifactVersion):
    return client.get(reverse("dashboard:artifact-version-detail", args=[version.id])).context["preview"]


@pytest.mark.parametrize("harm", [lose, tear], ids=["lost", "torn"])
def test_the_preview_reads_a_small_version_from_its_row(client, owner, harm):
    version = kept_in_row("config", {"lr": 0.1, "layers": [3, 4]})
    harm(version)
    client.force_login(owner)

    preview = _preview(client, version)

    assert preview.kind == "json"
    assert '"lr": 0.1' in preview.text


def test_the_preview_of_a_damaged_row_says_so(client, owner):
    version = kept_in_row("numbers", [1, 2, 3])
    damage_row(version)
    client.force_login(owner)

    preview = _preview(client, version)

    assert preview.kind == "none"
    assert "database row does not match its checksum" in preview.reason


# --- end to end: an output the engine kept in its row ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_completed_steps_small_output_loads_after_its_store_copy_is_lost(owner, broker, sdk_client, client):
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=2), user=owner)
    broker.drain()
    run = PipelineRun.objects.get(id=run.id)
    assert run.status == "completed"
    total = run.steps.get(name="total").output_links.get().artifact_version
    assert total.inline_files == {"data.json": "12"}  # written by the ready move
    lose(total)

    assert sdk_client.get_artifact_version(total.id).load() == 12

    lose(total)
    client.force_login(owner)
    assert _preview(client, total).text.strip() == "12"
