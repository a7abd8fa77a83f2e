"""The artifact pages: list, detail with its chart, version page, previews and downloads."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboard.previews import preview_for
from pipelines.models import Artifact, ArtifactVersion, ArtifactVersionStatus
from pipelines.storage import artifact_store
from tests.unit.dashboard_data import (
    XSS,
    consume,
    log,
    make_run,
    make_step,
    png_bytes,
    save_files,
    save_value,
    use_fresh_store,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def _get(client, url_name, *args, **params):
    return client.get(reverse(f"dashboard:{url_name}", args=args), params)


def _queries(client, url_name, *args, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, url_name, *args, **params)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.fixture
def version(owner) -> ArtifactVersion:
    from pipelines.sdk.metadata import StorageSize, Uri

    step = make_step(make_run(owner))
    saved = save_value("numbers", [1, 2, 3], step=step, tags=["gold"])
    log("artifact_version", saved.id, accuracy=0.5, link=Uri("https://example.com/x"), size_on_disk=StorageSize(2048))
    return saved


# --- who may see them --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arg"),
    [
        ("artifact-list", None),
        ("artifact-detail", "artifact"),
        ("artifact-version-detail", "version"),
        ("artifact-version-download", "version"),
    ],
)
def test_anonymous_visitors_are_sent_to_log_in(client, version, name, arg):
    args = [] if arg is None else [version.artifact_id if arg == "artifact" else version.id]

    response = client.get(reverse(f"dashboard:{name}", args=args))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("user", ["owner", "teammate"])
def test_every_user_sees_every_artifact_one_team_per_installation(client, version, user, request):
    client.force_login(request.getfixturevalue(user))

    listing = _get(client, "artifact-list")
    detail = _get(client, "artifact-detail", version.artifact_id)
    page = _get(client, "artifact-version-detail", version.id)

    assert b"numbers" in listing.content
    assert detail.status_code == page.status_code == 200
    assert b"gold" in page.content


# --- the list ----------------------------------------------------------------------


def test_the_list_shows_version_counts_and_the_latest_version(client, owner):
    save_value("alpha", 1)
    save_value("alpha", 2)
    latest = save_value("alpha", 3)
    client.force_login(owner)

    response = _get(client, "artifact-list")

    row = response.content.decode()
    assert "alpha" in row
    assert reverse("dashboard:artifact-version-detail", args=[latest.id]) in row
    assert response.context["page_obj"][0].version_count == 3
    assert response.context["page_obj"][0].latest_version == "3"


def test_the_list_filters_by_name_and_sorts(client, owner):
    save_value("alpha", 1)
    for value in (1, 2):
        save_value("beta", value)
    client.force_login(owner)

    filtered = _get(client, "artifact-list", name="BET")
    by_versions = _get(client, "artifact-list", sort="-versions")
    by_name_desc = _get(client, "artifact-list", sort="-name")

    assert [a.name for a in filtered.context["page_obj"]] == ["beta"]
    assert [a.name for a in by_versions.context["page_obj"]] == ["beta", "alpha"]
    assert [a.name for a in by_name_desc.context["page_obj"]] == ["beta", "alpha"]


def test_the_list_costs_the_same_queries_for_one_artifact_or_many(client, owner):
    save_value("a0", 0)
    client.force_login(owner)
    few = _queries(client, "artifact-list")
    for index in range(1, 8):
        save_value(f"a{index}", index)
        save_value(f"a{index}", index + 1)

    assert _queries(client, "artifact-list") == few


# --- the artifact page -------------------------------------------------------------


def test_the_artifact_page_charts_a_numeric_key_across_versions_linking_each_point(client, owner):
    versions = [save_value("model", n) for n in range(3)]
    for n, saved in enumerate(versions):
        log("artifact_version", saved.id, loss=1.0 / (n + 1), note="text is not charted")
    client.force_login(owner)

    response = _get(client, "artifact-detail", versions[0].artifact_id)

    assert response.context["keys"] == ["loss"]
    data = response.context["chart"]
    assert [p["y"] for p in data["points"]] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert data["points"][0]["url"] == reverse("dashboard:artifact-version-detail", args=[versions[0].id])
    assert b'<script id="chart-data" type="application/json">' in response.content
    assert b"chart-4.6.1.umd.min.js" in response.content


def test_the_artifact_page_pages_filters_and_sorts_versions(client, owner):
    versions = [save_value("many", n) for n in range(4)]
    client.force_login(owner)

    newest_first = _get(client, "artifact-detail", versions[0].artifact_id)
    oldest_first = _get(client, "artifact-detail", versions[0].artifact_id, sort="version")
    filtered = _get(client, "artifact-detail", versions[0].artifact_id, version="3")

    assert [v.id for v in newest_first.context["page_obj"]] == [v.id for v in reversed(versions)]
    assert [v.id for v in oldest_first.context["page_obj"]] == [v.id for v in versions]
    assert [v.version for v in filtered.context["page_obj"]] == ["3"]


def test_the_artifact_page_costs_the_same_queries_for_one_version_or_many(client, owner):
    run = make_run(owner)
    first = save_value("grow", 0, step=make_step(run, name="s0"))
    log("artifact_version", first.id, loss=1.0)
    client.force_login(owner)
    few = _queries(client, "artifact-detail", first.artifact_id)
    for n in range(1, 8):
        saved = save_value("grow", n, step=make_step(run, name=f"s{n}"))
        log("artifact_version", saved.id, loss=1.0 / n, other=n)

    assert _queries(client, "artifact-detail", first.artifact_id) == few


# --- the version page --------------------------------------------------------------


def test_the_version_page_shows_facts_metadata_producer_and_consumers(client, owner, version):
    reader = make_step(make_run(owner, name="run-2"), name="evaluate")
    consume(reader, version, name="numbers_in")
    client.force_login(owner)

    response = _get(client, "artifact-version-detail", version.id)

    html = response.content.decode()
    assert version.checksum in html
    assert "builtins.list" in html
    assert "BuiltInContainerMaterializer" in html
    assert reverse("dashboard:step-detail", args=[version.producer_step_run_id]) in html
    assert reverse("dashboard:step-detail", args=[reader.id]) in html
    assert "numbers_in" in html
    assert reverse("dashboard:artifact-version-download", args=[version.id]) in html
    assert '<a href="https://example.com/x"' in html
    assert "2.0\xa0KB" in html  # StorageSize, human-readable


def test_a_uri_that_is_not_http_is_shown_as_text_never_as_a_link(client, owner):
    from pipelines.sdk.metadata import Uri

    saved = save_value("links", 1)
    log("artifact_version", saved.id, bad=Uri("javascript:alert(1)"))
    client.force_login(owner)

    response = _get(client, "artifact-version-detail", saved.id)

    assert b"javascript:alert(1)" in response.content
    assert b'href="javascript:' not in response.content


def test_the_version_page_costs_the_same_queries_for_few_or_many_consumers_and_keys(client, owner, version):
    run = make_run(owner, name="readers")
    consume(make_step(run, name="first_reader"), version)
    client.force_login(owner)
    few = _queries(client, "artifact-version-detail", version.id)
    for n in range(6):
        consume(make_step(run, name=f"reader{n}"), version)
        log("artifact_version", version.id, **{f"key{n}": n})

    assert _queries(client, "artifact-version-detail", version.id) == few


def test_a_pending_version_has_no_page_and_no_download(client, owner):
    pending = ArtifactVersion.objects.create(
        artifact=save_value("half", 1).artifact, status=ArtifactVersionStatus.PENDING, uri="pending:x"
    )
    client.force_login(owner)

    assert _get(client, "artifact-version-detail", pending.id).status_code == 404
    assert _get(client, "artifact-version-download", pending.id).status_code == 404
    assert _get(client, "artifact-version-preview", pending.id).status_code == 404


# --- downloads ---------------------------------------------------------------------


def test_a_folder_downloads_as_a_zip_of_its_files(client, owner):
    saved = save_files("report", {"index.html": b"<p>hi</p>", "img/plot.png": png_bytes()})
    client.force_login(owner)

    response = _get(client, "artifact-version-download", saved.id)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="report-1.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["img/plot.png", "index.html"]
    assert archive.read("img/plot.png") == png_bytes()


def test_a_single_file_artifact_downloads_as_that_file(client, owner):
    saved = save_value("single", "x")
    # A uri names its version's folder or a file below it (store_for_uri's rule).
    path = Path(saved.uri) / "single-file.txt"
    path.write_bytes(b"plain bytes")
    # The row must describe the file, or the download refuses it as damaged.
    checksum, size = artifact_store().checksum(path)
    ArtifactVersion.objects.filter(id=saved.id).update(uri=str(path), checksum=checksum, size=size)
    client.force_login(owner)

    response = _get(client, "artifact-version-download", saved.id)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == b"plain bytes"


def test_a_download_with_missing_files_is_a_404_not_an_error(client, owner):
    saved = save_value("gone", 1)
    artifact_store().remove(saved.uri)
    client.force_login(owner)

    assert _get(client, "artifact-version-download", saved.id).status_code == 404


# --- previews ----------------------------------------------------------------------


def _preview(client, owner, saved):
    client.force_login(owner)
    response = _get(client, "artifact-version-detail", saved.id)
    assert response.status_code == 200
    return response.context["preview"], response.content.decode()


def test_an_image_is_previewed_through_the_preview_url_with_its_type(client, owner):
    saved = save_files("plot", {"plot.png": png_bytes()})

    preview, html = _preview(client, owner, saved)
    raw = _get(client, "artifact-version-preview", saved.id)

    url = reverse("dashboard:artifact-version-preview", args=[saved.id])
    assert preview.kind == "image"
    assert f'<img class="preview-image" src="{url}"' in html
    assert raw["Content-Type"] == "image/png"
    assert raw["X-Content-Type-Options"] == "nosniff"
    assert b"".join(raw.streaming_content) == png_bytes()


def test_bytes_holding_a_png_are_previewed_as_an_image(client, owner):
    preview, _ = _preview(client, owner, save_value("raw", png_bytes()))

    assert preview.kind == "image"


def test_a_file_named_like_an_image_but_not_one_is_not_served_as_an_image(client, owner):
    saved = save_files("fake", {"plot.png": b"<script>alert(1)</script>"})

    preview, _ = _preview(client, owner, saved)

    assert preview.kind != "image"
    assert _get(client, "artifact-version-preview", saved.id).status_code == 404


def test_html_is_shown_only_in_a_sandboxed_frame_served_with_a_sandbox_policy(client, owner):
    saved = save_files("report", {"report.html": b"<h1>Report</h1><script>alert(1)</script>"})

    preview, html = _preview(client, owner, saved)
    raw = _get(client, "artifact-version-preview", saved.id)

    url = reverse("dashboard:artifact-version-preview", args=[saved.id])
    assert preview.kind == "html"
    assert f'<iframe class="preview-frame" sandbox src="{url}"' in html
    assert "<h1>Report</h1>" not in html
    assert raw["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert raw["X-Content-Type-Options"] == "nosniff"
    assert raw["X-Frame-Options"] == "SAMEORIGIN"
    assert raw["Content-Type"].startswith("text/html")


def test_a_dataframe_is_previewed_as_a_table_of_its_first_rows_escaped(client, owner):
    frame = pd.DataFrame({"name": [XSS[0]] + [f"row{n}" for n in range(49)], "value": range(50)})

    preview, html = _preview(client, owner, save_value("frame", frame))

    assert preview.kind == "table"
    assert preview.columns == ["name", "value"]
    assert len(preview.rows) == 20
    assert preview.truncated
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS[0] not in html


def test_a_csv_file_is_previewed_as_a_table(client, owner):
    saved = save_files("table", {"data.csv": b"a,b\n1,2\n3,4\n"})

    preview, html = _preview(client, owner, saved)

    assert preview.kind == "table"
    assert preview.rows == [["1", "2"], ["3", "4"]]
    assert '<th scope="col">a</th>' in html


def test_json_is_pretty_printed_escaped_and_truncated(client, owner):
    big = {"payload": XSS[1], "items": list(range(20000))}

    preview, html = _preview(client, owner, save_value("config", big))

    assert preview.kind == "json"
    assert preview.truncated
    assert len(preview.text) <= 20_000
    assert '"items": [' in preview.text
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_string_is_previewed_as_text(client, owner):
    preview, html = _preview(client, owner, save_value("note", "hello " + XSS[0]))

    assert preview.kind == "text"
    assert "hello &lt;script&gt;" in html


def test_markdown_is_shown_as_escaped_source_not_rendered(client, owner):
    saved = save_files("readme", {"README.md": b"# Title\n\n<script>alert(1)</script>"})

    preview, html = _preview(client, owner, saved)

    assert preview.kind == "markdown"
    assert "# Title" in html
    assert "<h1>Title" not in html
    assert "&lt;script&gt;" in html


def test_a_text_file_is_truncated(client, owner):
    saved = save_files("log", {"out.txt": b"x" * 100_000})

    preview, _ = _preview(client, owner, saved)

    assert preview.kind == "text"
    assert preview.truncated
    assert len(preview.text) == 20_000


def test_a_numpy_array_shows_shape_dtype_and_a_sample(client, owner):
    preview, html = _preview(client, owner, save_value("weights", np.arange(1000, dtype=np.float32).reshape(10, 100)))

    assert preview.kind == "array"
    assert preview.shape == "(10, 100)"
    assert preview.dtype == "float32"
    assert preview.text.startswith("[ 0.,  1.,  2.")
    assert preview.truncated
    assert "float32" in html


class Boom:
    def __reduce__(self):
        return (pytest.fail, ("a preview unpickled an artifact",))


def test_pickles_are_never_unpickled_by_a_preview(client, owner, monkeypatch):
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    saved = save_files("evil", {"data.pkl": pickle.dumps(Boom())})
    object_array = save_value("objects", np.array([{"a": 1}, None], dtype=object))

    preview, html = _preview(client, owner, saved)
    array_preview, _ = _preview(client, owner, object_array)

    assert preview.kind == "none"
    assert "pickle" in preview.reason
    assert "No preview" in html
    assert array_preview.kind == "array"
    assert "pickled" in array_preview.text


def test_an_unknown_type_says_no_preview_with_the_type(client, owner):
    saved = save_files("blob", {"weights.bin": bytes(range(256)) * 4})

    preview, html = _preview(client, owner, saved)

    assert preview.kind == "none"
    assert "tests.Custom" in html


def test_small_previews_are_smaller(owner):
    saved = save_files("log", {"out.txt": b"y" * 100_000})

    assert len(preview_for(saved, small=True).text) == 2_000


# --- escaping ----------------------------------------------------------------------


@pytest.mark.parametrize("payload", XSS)
def test_names_tags_and_metadata_are_escaped(client, owner, payload):
    saved = save_value("escaped", 1, tags=[payload])
    # The naming rules refuse such a name at every door now; a row from before them,
    # or written around them, must still be shown escaped.
    Artifact.objects.filter(id=saved.artifact_id).update(name=payload)
    log("artifact_version", saved.id, **{payload: payload})
    client.force_login(owner)

    pages = [
        _get(client, "artifact-list"),
        _get(client, "artifact-detail", saved.artifact_id),
        _get(client, "artifact-version-detail", saved.id),
    ]

    for response in pages:
        assert payload.encode() not in response.content
    assert b"&lt;" in pages[2].content


def test_chart_data_reaches_the_script_as_escaped_json(client, owner):
    saved = save_value("chart", 1)
    ArtifactVersion.objects.filter(id=saved.id).update(version="</script><script>alert(1)</script>", number=None)
    log("artifact_version", saved.id, loss=1.0)
    client.force_login(owner)

    response = _get(client, "artifact-detail", saved.artifact_id)

    assert b"</script><script>alert(1)" not in response.content
    opening = b'<script id="chart-data" type="application/json">'
    start = response.content.index(opening) + len(opening)
    data = json.loads(response.content[start : response.content.index(b"</script>", start)])
    assert data["points"][0]["label"] == "</script><script>alert(1)</script>"


def test_floats_are_shown_without_arithmetic_noise(client, owner):
    saved = save_value("noisy", 1)
    log("artifact_version", saved.id, accuracy=0.8 + 0.06)
    client.force_login(owner)

    response = _get(client, "artifact-version-detail", saved.id)

    assert b"0.86<" in response.content
    assert b"0.8600000000000001" not in response.content
