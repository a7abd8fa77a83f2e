"""GET /api/v1/artifact-versions/{id}/download/: a version's bytes, read through its store."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from pipelines.models import ArtifactVersion
from pipelines.services.artifacts import artifact_version_start_saved
from pipelines.services.steps import step_run_claim
from pipelines.services.tokens import run_token_create
from pipelines.storage import artifact_store
from tests.unit.dashboard_data import make_run, make_step, png_bytes, save_files, save_value, use_fresh_store

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _fresh_store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def _url(version_id: int | str) -> str:
    return reverse("artifact-version-download", kwargs={"pk": version_id})


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def single_file_version(name: str, data: bytes, filename: str) -> ArtifactVersion:
    """A ready version whose uri is one file (as a custom materializer may write)."""
    saved = save_value(name, "placeholder")
    path = Path(saved.uri) / filename
    path.write_bytes(data)
    checksum, size = artifact_store().checksum(path)
    ArtifactVersion.objects.filter(id=saved.id).update(uri=str(path), checksum=checksum, size=size)
    return ArtifactVersion.objects.get(id=saved.id)


# --- what it sends -----------------------------------------------------------------


def test_a_folder_is_streamed_as_a_zip_of_its_files_with_the_checksum_and_uri(api):
    saved = save_files("report", {"index.html": b"<p>hi</p>", "img/plot.png": png_bytes(), "a/b/c.txt": b"deep"})

    response = api.get(_url(saved.id))

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="report-1.zip"'
    assert response["X-Checksum-Sha256"] == saved.checksum
    assert response["X-Artifact-Uri"] == saved.uri
    assert response["X-Artifact-Layout"] == "folder"
    archive = zipfile.ZipFile(io.BytesIO(_body(response)))
    assert sorted(archive.namelist()) == ["a/b/c.txt", "img/plot.png", "index.html"]
    assert archive.read("img/plot.png") == png_bytes()
    assert archive.read("a/b/c.txt") == b"deep"


def test_a_single_file_is_sent_as_is_typed_by_its_bytes_with_its_length(api):
    saved = single_file_version("plot", png_bytes(), "figure.bin")

    response = api.get(_url(saved.id))

    assert response.status_code == 200
    assert _body(response) == png_bytes()
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(png_bytes()))
    assert response["Content-Disposition"] == 'attachment; filename="plot-1.bin"'
    assert response["X-Artifact-Layout"] == "file"
    assert response["X-Checksum-Sha256"] == saved.checksum


def test_a_single_file_without_known_magic_is_typed_by_its_extension(api):
    saved = single_file_version("table", b"a,b\n1,2\n", "rows.csv")

    response = api.get(_url(saved.id))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="table-1.csv"'


def test_the_filename_is_safe_whatever_the_artifact_is_called(api):
    saved = single_file_version("plain", b"x", 'we"ird\r\nname;.t"xt')
    ArtifactVersion.objects.filter(id=saved.id).update(version='../"v1"\r\n')

    response = api.get(_url(saved.id))

    disposition = response["Content-Disposition"]
    filename = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"', disposition)
    assert filename, disposition
    assert ".." not in filename.group(1)


def test_what_the_bytes_claim_to_be_is_never_rendered_as_a_page_of_the_site(api):
    saved = single_file_version("page", b"<script>alert(1)</script>", "report.html")

    response = api.get(_url(saved.id))

    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")


def test_any_accept_header_gets_the_bytes(api):
    saved = save_files("report", {"a.txt": b"a"})

    for accept in ("application/zip", "application/octet-stream", "*/*", "text/html"):
        response = api.get(_url(saved.id), HTTP_ACCEPT=accept)
        assert response.status_code == 200, accept
        assert _body(response).startswith(b"PK")


def test_a_large_folder_streams_in_chunks_and_unzips_to_the_same_bytes(api):
    big = bytes(range(256)) * 8192  # 2 MiB
    saved = save_files("weights", {"w.bin": big, "small.txt": b"s"})

    response = api.get(_url(saved.id))
    chunks = list(response.streaming_content)

    assert len(chunks) > 2
    assert zipfile.ZipFile(io.BytesIO(b"".join(chunks))).read("w.bin") == big


# --- who may read it -----------------------------------------------------------------


def test_a_pending_version_is_not_found(api):
    pending = artifact_version_start_saved(artifact_name="being-written", version=None, tags=[], store=artifact_store())
    folder = Path(pending.uri)
    folder.mkdir(parents=True)
    (folder / "data.json").write_text("[1]")

    response = api.get(_url(pending.id))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("key", ["999999", "²", "abc"])
def test_an_unknown_or_malformed_id_is_not_found(api, key):
    response = api.get(_url(key))

    assert response.status_code == 404


def test_without_credentials_it_is_refused(client):
    saved = save_value("numbers", [1, 2, 3])

    assert APIClient().get(_url(saved.id)).status_code == 401


def test_a_step_run_token_of_the_owners_run_reads_it(owner):
    from pipelines.services.runs import pipeline_run_create
    from tests.unit import sample_steps as sample

    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=1), user=owner)
    step = run.steps.get(name="load")
    attempt = step_run_claim(step_run_id=step.id, worker="w")
    key = run_token_create(step_run_id=step.id, attempt=attempt)
    saved = save_value("numbers", [1, 2, 3], step=make_step(make_run(owner, name="other-run")))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = client.get(_url(saved.id))

    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(_body(response))).namelist() == ["data.json"]


# --- when the bytes are not what was saved -------------------------------------------


def _error(response) -> dict:
    assert not getattr(response, "streaming", False)
    return response.json()


def test_missing_bytes_are_a_409_naming_the_uri(api):
    saved = save_value("gone", [1])
    artifact_store().remove(saved.uri)

    response = api.get(_url(saved.id))

    assert response.status_code == 409
    body = _error(response)
    assert body["code"] == "artifact_bytes_damaged"
    assert saved.uri in body["detail"]


def test_a_file_missing_from_a_folder_is_a_409_naming_the_uri(api):
    saved = save_files("two", {"a.txt": b"a", "b.txt": b"b"})
    (Path(saved.uri) / "b.txt").unlink()

    response = api.get(_url(saved.id))

    assert response.status_code == 409
    assert saved.uri in _error(response)["detail"]


def test_bytes_changed_in_place_are_a_409_naming_the_uri(api):
    saved = save_files("flipped", {"a.txt": b"hello"})
    (Path(saved.uri) / "a.txt").write_bytes(b"jello")  # same size, other bytes

    response = api.get(_url(saved.id))

    assert response.status_code == 409
    detail = _error(response)["detail"]
    assert saved.uri in detail
    assert "checksum" in detail


def test_a_truncated_file_is_a_409_naming_the_uri(api):
    saved = single_file_version("cut", b"0123456789", "data.bin")
    Path(saved.uri).write_bytes(b"01234")

    response = api.get(_url(saved.id))

    assert response.status_code == 409
    assert saved.uri in _error(response)["detail"]


def test_a_store_that_cannot_be_read_is_a_502_that_keeps_the_cause_in_the_log(api, monkeypatch, caplog):
    saved = save_value("locked", [1])

    class Refusing:
        def walk(self, uri):
            raise PermissionError("403 Forbidden: AccessKeyId AKIASECRETSECRET is not allowed")

    monkeypatch.setattr("pipelines.artifact_download.store_for_uri", lambda uri: Refusing())

    response = api.get(_url(saved.id))

    assert response.status_code == 502
    body = _error(response)
    assert body["code"] == "artifact_store_unreachable"
    assert saved.uri in body["detail"]
    assert "AKIA" not in response.content.decode()
    assert "AKIASECRETSECRET" in caplog.text


# --- one implementation, and the schema -------------------------------------------------


def test_the_dashboard_button_sends_the_same_bytes(api, client, owner):
    saved = save_files("report", {"index.html": b"<p>hi</p>", "img/plot.png": png_bytes()})
    client.force_login(owner)

    from_api = _body(api.get(_url(saved.id)))
    from_page = _body(client.get(reverse("dashboard:artifact-version-download", args=[saved.id])))

    assert from_api == from_page


def test_the_zip_is_the_same_every_time(api):
    saved = save_files("report", {"b.txt": b"b", "a.txt": b"a"})

    assert _body(api.get(_url(saved.id))) == _body(api.get(_url(saved.id)))


def test_the_schema_describes_the_download_as_binary(api):
    response = api.get(reverse("api-schema"), {"format": "json"})

    operation = response.json()["paths"]["/api/v1/artifact-versions/{id}/download/"]["get"]
    ok = operation["responses"]["200"]["content"]
    assert ok["*/*"]["schema"] == {"type": "string", "format": "binary"}
    assert {"404", "409", "502"} <= set(operation["responses"])


def test_the_dashboard_reads_no_file_by_path():
    """Previews and downloads go through the store interface: the web server needs no
    mount, and an s3:// store works the same."""
    for path in (REPO / "dashboard").rglob("*.py"):
        source = path.read_text()
        for forbidden in ("import os", "pathlib", "os.scandir", "os.walk", " open(", ".resolve(", "artifact_store("):
            assert forbidden not in source, f"{path.relative_to(REPO)} uses {forbidden!r}"


# --- the Client's side: download, verify, load, and when it falls back ----------------


class ApiTransport:
    """The Client's transport, answered by the test client (no socket), streaming too."""

    def __init__(self, api: APIClient) -> None:
        self.api = api
        self.downloads: list[str] = []

    def request(self, method, url, *, timeout, params=None, json=None):
        from pipelines.sdk.transport import Response

        response = getattr(self.api, method.lower())(url, params or json or {}, format="json")
        # A HEAD of the download route is a streaming response with its content removed.
        content = b"".join(response.streaming_content) if response.streaming else response.content
        return Response(status_code=response.status_code, content=content, headers=response.headers)

    def download(self, url, *, write, timeout, chunk_size=1024 * 1024):
        from pipelines.sdk.transport import Response

        self.downloads.append(url)
        response = self.api.get(url)
        if response.status_code != 200:
            return Response(status_code=response.status_code, content=response.content, headers=response.headers)
        for chunk in response.streaming_content:
            write(chunk)
        return Response(status_code=200, content=b"", headers=response.headers)


@pytest.fixture
def sdk_client(api, owner_token):
    from pipelines.sdk.client import Client

    client = Client(server_url="http://testserver", api_token=owner_token)
    client._session = ApiTransport(api)
    return client


@pytest.fixture
def fresh_fallbacks(monkeypatch):
    from pipelines.sdk import artifact_access

    monkeypatch.setattr(artifact_access, "_unreachable", {})
    monkeypatch.setattr(artifact_access, "_said", set())
    return artifact_access


def _hide(monkeypatch) -> None:
    """As on a machine without the store's mount: the Client's reads of the store fail
    (the server, in this same process, still reads it)."""
    from pipelines.sdk import artifact_access
    from pipelines.sdk.stores import ArtifactFilesMissing

    real = artifact_access.load_artifact_version

    def load(*, uri, store=None, **kwargs):
        if store is None:  # the store itself, not the downloaded copy
            raise ArtifactFilesMissing(
                f"The files of the artifact version at {uri} are missing: nothing is stored there."
            )
        return real(uri=uri, store=store, **kwargs)

    monkeypatch.setattr(artifact_access, "load_artifact_version", load)


def test_a_client_that_cannot_read_the_store_loads_through_the_server_and_says_so_once(
    sdk_client, fresh_fallbacks, monkeypatch, caplog
):
    import numpy as np

    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    weights = save_value("weights", array)
    config = save_value("config", {"a": [1, 2]})
    monkeypatch.delenv("PIPELINES_ARTIFACT_ACCESS", raising=False)
    _hide(monkeypatch)
    caplog.set_level("INFO", logger="pipelines.sdk.artifacts")

    loaded = sdk_client.get_artifact_version(weights.id).load()
    loaded_config = sdk_client.get_artifact_version(config.id).load()

    np.testing.assert_array_equal(loaded, array)
    assert loaded_config == {"a": [1, 2]}
    assert len(sdk_client._session.downloads) == 2
    said = [r for r in caplog.records if "through the server" in r.getMessage()]
    assert len(said) == 1
    assert said[0].levelname == "INFO"
    assert "missing" in said[0].getMessage()


def test_the_temporary_copy_is_removed_after_loading(sdk_client, monkeypatch, tmp_path):
    import tempfile

    saved = save_value("numbers", [1, 2, 3])
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", "server")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    assert sdk_client.get_artifact_version(saved.id).load() == [1, 2, 3]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_client_that_reads_the_store_downloads_nothing(sdk_client, fresh_fallbacks, monkeypatch):
    saved = save_value("numbers", [1, 2, 3])
    monkeypatch.delenv("PIPELINES_ARTIFACT_ACCESS", raising=False)

    assert sdk_client.get_artifact_version(saved.id).load() == [1, 2, 3]
    assert sdk_client._session.downloads == []


def test_access_store_never_falls_back(sdk_client, fresh_fallbacks, monkeypatch):
    from pipelines.sdk.stores import ArtifactFilesMissing

    saved = save_value("numbers", [1, 2, 3])
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", "store")
    _hide(monkeypatch)

    with pytest.raises(ArtifactFilesMissing, match=re.escape(saved.uri)):
        sdk_client.get_artifact_version(saved.id).load()
    assert sdk_client._session.downloads == []


def test_damaged_bytes_in_a_reachable_store_raise_and_do_not_fall_back(sdk_client, fresh_fallbacks, monkeypatch):
    from pipelines.sdk.stores import ArtifactIntegrityError

    saved = save_files("flipped", {"a.txt": b"hello"})
    (Path(saved.uri) / "a.txt").write_bytes(b"jello")
    monkeypatch.delenv("PIPELINES_ARTIFACT_ACCESS", raising=False)

    with pytest.raises(ArtifactIntegrityError, match=re.escape(saved.uri)):
        sdk_client.get_artifact_version(saved.id).load()
    assert sdk_client._session.downloads == []


def test_damaged_bytes_on_the_server_raise_naming_the_uri(sdk_client, monkeypatch):
    from pipelines.sdk.stores import ArtifactIntegrityError

    saved = save_files("flipped", {"a.txt": b"hello"})
    (Path(saved.uri) / "a.txt").write_bytes(b"jello")
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", "server")

    with pytest.raises(ArtifactIntegrityError, match=re.escape(saved.uri)):
        sdk_client.get_artifact_version(saved.id).load()


def test_bytes_damaged_on_the_way_are_caught_by_the_checksum(sdk_client, monkeypatch, tmp_path):
    from pipelines.sdk.stores import ArtifactIntegrityError

    saved = single_file_version("big", b"x" * 100_000, "w.bin")
    # As for a version too large for the server to check before sending it.
    monkeypatch.setattr("pipelines.artifact_download.VERIFY_BYTES", 0)
    original = sdk_client._session.download

    def corrupting(url, *, write, timeout, chunk_size=1024 * 1024):
        return original(url, write=lambda chunk: write(chunk.replace(b"x", b"y", 1)), timeout=timeout)

    monkeypatch.setattr(sdk_client._session, "download", corrupting)

    with pytest.raises(ArtifactIntegrityError, match=re.escape(saved.uri)):
        sdk_client.download_artifact_version(saved.id, str(tmp_path), checksum=saved.checksum, uri=saved.uri)


def test_an_unknown_access_mode_is_refused_with_the_choices(sdk_client, monkeypatch):
    saved = save_value("numbers", [1])
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", "sometimes")

    with pytest.raises(ValueError, match="auto, store, server"):
        sdk_client.get_artifact_version(saved.id).load()


def test_download_artifact_version_gives_the_local_copy(sdk_client, tmp_path):
    folder = save_files("report", {"index.html": b"<p>hi</p>", "img/plot.png": png_bytes()})
    single = single_file_version("plot", png_bytes(), "figure.png")

    folder_copy = Path(sdk_client.download_artifact_version(folder.id, str(tmp_path)))
    file_copy = Path(sdk_client.download_artifact_version(single.id, str(tmp_path)))

    assert (folder_copy / "img" / "plot.png").read_bytes() == png_bytes()
    assert (folder_copy / "index.html").read_bytes() == b"<p>hi</p>"
    assert file_copy.name == "figure.png"
    assert file_copy.read_bytes() == png_bytes()
    assert not list(tmp_path.glob("*.part"))


# --- hostile archives -------------------------------------------------------------------


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _save_from(body: bytes, tmp_path, *, size=None, checksum=""):
    from pipelines.sdk.artifact_access import save_download

    def fetch(write):
        write(body)
        return {"X-Artifact-Layout": "folder", "X-Artifact-Uri": "/store/saved/9"}

    return save_download(fetch, folder=str(tmp_path), version_id=9, uri="", checksum=checksum, size=size)


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "a\\..\\b"])
def test_an_archive_entry_outside_the_copy_is_refused(tmp_path, name):
    from pipelines.sdk.stores import ArtifactIntegrityError

    with pytest.raises(ArtifactIntegrityError, match="unsafe entry"):
        _save_from(_zip({name: b"x"}), tmp_path / "copy")
    assert not (tmp_path / "escape.txt").exists()


def test_an_archive_that_unpacks_past_the_recorded_size_is_stopped(tmp_path):
    from pipelines.sdk.stores import ArtifactIntegrityError

    bomb = _zip({"zeros.bin": bytes(5 * 1024 * 1024)})

    with pytest.raises(ArtifactIntegrityError, match="more than the 1024 bytes"):
        _save_from(bomb, tmp_path, size=1024)


def test_a_body_that_is_not_a_zip_is_an_integrity_error_naming_the_uri(tmp_path):
    from pipelines.sdk.stores import ArtifactIntegrityError

    with pytest.raises(ArtifactIntegrityError, match="/store/saved/9"):
        _save_from(b"<html>a proxy's error page</html>", tmp_path)


# --- on an object store (moto's S3 server): the web server needs no mount -------------


@pytest.fixture
def s3_store(settings, s3_store_url):
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": s3_store_url}
    return s3_store_url


def test_a_version_on_s3_downloads_through_the_server(api, s3_store):
    import numpy as np

    array = np.arange(6, dtype=np.float64)
    saved = save_value("weights", array)
    assert saved.uri.startswith(s3_store)

    response = api.get(_url(saved.id))

    assert response.status_code == 200
    assert response["X-Artifact-Uri"] == saved.uri
    archive = zipfile.ZipFile(io.BytesIO(_body(response)))
    assert "array.npy" in archive.namelist()
    np.testing.assert_array_equal(np.load(io.BytesIO(archive.read("array.npy"))), array)


def test_a_version_missing_from_s3_is_a_409_naming_its_uri(api, s3_store):
    from pipelines.storage import store_for_uri

    saved = save_value("gone", {"a": 1})
    store_for_uri(saved.uri).remove(saved.uri)

    response = api.get(_url(saved.id))

    assert response.status_code == 409
    assert saved.uri in _error(response)["detail"]


def test_previews_read_from_s3(client, owner, s3_store):
    import numpy as np
    import pandas as pd

    client.force_login(owner)
    versions = {
        "json": save_value("config", {"lr": 0.1}),
        "array": save_value("weights", np.arange(1000, dtype=np.float32).reshape(10, 100)),
        "table": save_value("frame", pd.DataFrame({"name": ["a", "b"], "value": [1, 2]})),
        "image": save_value("plot", png_bytes()),
    }

    previews = {
        kind: client.get(reverse("dashboard:artifact-version-detail", args=[v.id])).context["preview"]
        for kind, v in versions.items()
    }
    raw = client.get(reverse("dashboard:artifact-version-preview", args=[versions["image"].id]))

    assert previews["json"].kind == "json"
    assert '"lr": 0.1' in previews["json"].text
    assert (previews["array"].kind, previews["array"].shape, previews["array"].dtype) == (
        "array",
        "(10, 100)",
        "float32",
    )
    assert previews["array"].text.startswith("[ 0.,  1.,  2.")
    assert previews["table"].kind == "table"
    assert previews["table"].rows == [["a", "1"], ["b", "2"]]
    assert previews["image"].kind == "image"
    assert raw.status_code == 200
    assert b"".join(raw.streaming_content) == png_bytes()


def test_a_column_major_array_is_sampled_in_row_order(client, owner):
    import numpy as np

    array = np.asfortranarray(np.arange(60, dtype=np.int16).reshape(3, 20))
    saved = save_value("columns", array)
    client.force_login(owner)

    preview = client.get(reverse("dashboard:artifact-version-detail", args=[saved.id])).context["preview"]

    assert preview.shape == "(3, 20)"
    assert preview.text.startswith("[ 0,  1,  2,  3,")
    assert preview.truncated


def test_one_missing_version_does_not_send_every_later_load_to_the_server(sdk_client, fresh_fallbacks, monkeypatch):
    from pipelines.sdk.stores import ArtifactIntegrityError

    gone = save_value("gone", [1])
    kept = save_value("kept", [2])
    Path(gone.uri, "data.json").unlink()
    monkeypatch.delenv("PIPELINES_ARTIFACT_ACCESS", raising=False)

    with pytest.raises(ArtifactIntegrityError, match=re.escape(gone.uri)):
        sdk_client.get_artifact_version(gone.id).load()  # the server confirms: gone there too
    assert sdk_client.get_artifact_version(kept.id).load() == [2]

    assert len(sdk_client._session.downloads) == 1


def test_a_store_that_refuses_this_process_is_not_asked_again(sdk_client, fresh_fallbacks, monkeypatch):
    from pipelines.sdk import artifact_access

    first, second = save_value("first", [1]), save_value("second", [2])
    monkeypatch.delenv("PIPELINES_ARTIFACT_ACCESS", raising=False)
    real = artifact_access.load_artifact_version
    store_reads = []

    def refusing(*, uri, store=None, **kwargs):
        if store is None:
            store_reads.append(uri)
            raise PermissionError(13, "Permission denied", uri)
        return real(uri=uri, store=store, **kwargs)

    monkeypatch.setattr(artifact_access, "load_artifact_version", refusing)

    assert sdk_client.get_artifact_version(first.id).load() == [1]
    assert sdk_client.get_artifact_version(second.id).load() == [2]
    assert store_reads == [first.uri]


def test_a_large_version_travels_from_store_to_client_disk_without_being_held_in_memory(sdk_client, tmp_path):
    import tracemalloc

    big = os.urandom(24 * 1024 * 1024)
    folder = save_files("big-folder", {"w.bin": big, "meta.json": b"{}"})
    single = single_file_version("big-file", big, "w.bin")
    del big

    tracemalloc.start()
    try:
        folder_copy = sdk_client.download_artifact_version(folder.id, str(tmp_path / "a"), checksum=folder.checksum)
        file_copy = sdk_client.download_artifact_version(single.id, str(tmp_path / "b"), checksum=single.checksum)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert Path(folder_copy, "w.bin").stat().st_size == Path(file_copy).stat().st_size == 24 * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_a_recorded_uri_outside_any_store_is_a_409_naming_it(api):
    saved = save_value("odd", [1])
    ArtifactVersion.objects.filter(id=saved.id).update(uri="/etc/passwd")

    response = api.get(_url(saved.id))

    assert response.status_code == 409
    assert "/etc/passwd" in _error(response)["detail"]


def test_a_store_the_server_cannot_set_up_is_a_502(api, monkeypatch):
    from pipelines.sdk.stores import StoreConfigError

    saved = save_value("elsewhere", [1])

    def unconfigured(uri):
        raise StoreConfigError("The artifact store s3://other cannot be configured: no region")

    monkeypatch.setattr("pipelines.artifact_download.store_for_uri", unconfigured)

    response = api.get(_url(saved.id))

    assert response.status_code == 502
    assert _error(response)["code"] == "artifact_store_unreachable"


def test_a_refusing_store_is_tried_again_after_a_while(sdk_client, fresh_fallbacks, monkeypatch):
    from pipelines.sdk import artifact_access

    first, second = save_value("first", [1]), save_value("second", [2])
    monkeypatch.delenv("PIPELINES_ARTIFACT_ACCESS", raising=False)
    real = artifact_access.load_artifact_version
    refuse = [True]

    def sometimes(*, uri, store=None, **kwargs):
        if store is None and refuse[0]:
            raise ConnectionRefusedError(111, "Connection refused")
        return real(uri=uri, store=store, **kwargs)

    monkeypatch.setattr(artifact_access, "load_artifact_version", sometimes)
    assert sdk_client.get_artifact_version(first.id).load() == [1]
    refuse[0] = False
    monkeypatch.setattr(artifact_access, "RETRY_STORE_AFTER_SECONDS", 0.0)

    assert sdk_client.get_artifact_version(second.id).load() == [2]
    assert len(sdk_client._session.downloads) == 1  # the second came from the store again
