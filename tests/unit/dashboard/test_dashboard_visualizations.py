"""The artifact version page's Visualizations: what save_visualizations recorded, read
through the store; HTML only in the sandboxed frame, Markdown as escaped source."""

from __future__ import annotations

import json
import os

import pytest
from django.urls import reverse

from pipelines import pipeline, step
from pipelines.enums import VisualizationType
from pipelines.io import fileio
from pipelines.materializers.base_materializer import BaseMaterializer
from pipelines.sdk.artifact_saving import save_artifact_value
from pipelines.sdk.materializers import materializer_registry
from pipelines.sdk.source import source_of
from pipelines.sdk.types import HTMLString, MarkdownString
from pipelines.sdk.visualizations import MANIFEST
from pipelines.services.runs import pipeline_run_create
from pipelines.storage import artifact_store
from pipelines.types import CSVString
from tests.unit.dashboard_data import XSS, _save, png_bytes, save_files, save_value, use_fresh_store

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_store(settings, tmp_path):
    use_fresh_store(settings, tmp_path)


def _saved_through_the_save_path(name: str, value):
    materializer = materializer_registry.materializer_for_value(value)

    def write(uri: str) -> None:
        save_artifact_value(store=artifact_store(), uri=uri, materializer=materializer, value=value)

    return _save(
        name,
        write,
        materializer=source_of(materializer),
        data_type=f"{type(value).__module__}.{type(value).__qualname__}",
        step=None,
        output="output",
    )


def _page(client, owner, version):
    client.force_login(owner)
    response = client.get(reverse("dashboard:artifact-version-detail", args=[version.id]))
    assert response.status_code == 200
    return response, response.content.decode()


def _raw(client, version, index):
    return client.get(reverse("dashboard:artifact-version-preview", args=[version.id]), {"visualization": index})


def test_an_html_string_is_shown_in_the_sandboxed_frame_only(client, owner):
    version = _saved_through_the_save_path("report", HTMLString(f"<h1>Report</h1>{XSS[0]}"))

    response, html = _page(client, owner, version)
    raw = _raw(client, version, 0)

    assert [v.name for v in response.context["visualizations"]] == ["output.html"]
    assert "<h2>Visualizations</h2>" in html
    url = reverse("dashboard:artifact-version-preview", args=[version.id]) + "?visualization=0"
    assert f'<iframe class="preview-frame" sandbox src="{url}"' in html
    assert XSS[0] not in html
    assert raw.status_code == 200
    assert raw["Content-Type"] == "text/html; charset=utf-8"
    assert raw["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert b"".join(raw.streaming_content).startswith(b"<h1>Report</h1>")


def test_markdown_is_shown_as_escaped_source(client, owner):
    version = _saved_through_the_save_path("notes", MarkdownString(f"# Title\n{XSS[1]}"))

    _, html = _page(client, owner, version)

    assert "# Title" in html
    assert XSS[1] not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_csv_is_shown_as_a_table(client, owner):
    version = _saved_through_the_save_path("table", CSVString("name,score\nann,1\nbob,2\n"))

    response, html = _page(client, owner, version)

    (shown,) = response.context["visualizations"]
    assert shown.preview.kind == "table"
    assert shown.preview.columns == ["name", "score"]
    assert shown.preview.rows == [["ann", "1"], ["bob", "2"]]
    assert "<td>bob</td>" in html


def test_an_image_and_json_recorded_by_a_custom_materializer_are_shown(client, owner):
    version = save_files(
        "custom",
        {
            "data.bin": b"\x00\x01",
            "viz/plot.png": png_bytes(),
            "viz/stats.json": json.dumps({"mean": 0.5}).encode(),
            MANIFEST: json.dumps({"viz/plot.png": "image", "viz/stats.json": "json"}).encode(),
        },
    )

    response, html = _page(client, owner, version)
    raw = _raw(client, version, 0)

    kinds = {v.name: v.preview.kind for v in response.context["visualizations"]}
    assert kinds == {"viz/plot.png": "image", "viz/stats.json": "json"}
    assert "&quot;mean&quot;: 0.5" in html
    assert raw["Content-Type"] == "image/png"
    assert b"".join(raw.streaming_content) == png_bytes()


def test_a_version_without_visualizations_has_no_section(client, owner):
    version = save_value("numbers", [1, 2, 3])

    response, html = _page(client, owner, version)

    assert response.context["visualizations"] == []
    assert "Visualizations" not in html


def test_a_recorded_path_outside_the_folder_or_of_unknown_type_is_ignored(client, owner):
    version = save_files(
        "sneaky",
        {
            "a.md": b"# fine",
            MANIFEST: json.dumps({"../../../../etc/passwd": "text", "a.md": "markdown", "b.js": "script"}).encode(),
        },
    )

    response, _ = _page(client, owner, version)

    assert [v.name for v in response.context["visualizations"]] == ["a.md"]


def test_a_missing_visualization_file_says_so_without_breaking_the_page(client, owner):
    version = save_files("gone", {"x.txt": b"x", MANIFEST: json.dumps({"missing.csv": "csv"}).encode()})

    response, _ = _page(client, owner, version)

    (shown,) = response.context["visualizations"]
    assert shown.preview.kind == "none"


@pytest.mark.parametrize("index", ["1", "-1", "x", "²"])
def test_a_bad_or_unknown_visualization_number_is_a_4xx(client, owner, index):
    version = _saved_through_the_save_path("report2", HTMLString("<p>x</p>"))
    client.force_login(owner)

    response = _raw(client, version, index)

    assert response.status_code in (400, 404)


def test_the_markdown_visualization_is_not_served_raw(client, owner):
    version = _saved_through_the_save_path("notes2", MarkdownString("# x"))
    client.force_login(owner)

    assert _raw(client, version, 0).status_code == 404


# ZenML's docs snippets (creating-custom-visualizations.md), zenml -> pipelines, run
# through a real (in-process) step execution.


@step
def my_step() -> CSVString:
    some_csv = "a,b,c\n1,2,3"
    return CSVString(some_csv)


class FacetsComparison:
    def __init__(self, datasets: list[dict[str, str]]) -> None:
        self.datasets = datasets


VISUALIZATION_FILENAME = "visualization.html"


class FacetsMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (FacetsComparison,)
    ASSOCIATED_ARTIFACT_TYPE = "data_analysis"

    def load(self, data_type: type) -> FacetsComparison:
        with fileio.open(os.path.join(self.uri, "datasets.json"), "r") as f:
            return FacetsComparison(json.load(f))

    def save(self, data: FacetsComparison) -> None:
        with fileio.open(os.path.join(self.uri, "datasets.json"), "w") as f:
            json.dump(data.datasets, f)

    def save_visualizations(self, data: FacetsComparison) -> dict[str, VisualizationType]:
        html = "".join(f"<p>{d['name']}</p>" for d in data.datasets)  # Create a visualization for the custom type
        visualization_path = os.path.join(self.uri, VISUALIZATION_FILENAME)
        with fileio.open(visualization_path, "w") as f:
            f.write(html)
        return {visualization_path: VisualizationType.HTML}


@step
def facets_visualization_step() -> FacetsComparison:  # Return the custom type from your step
    return FacetsComparison(datasets=[{"name": "reference"}, {"name": "comparison"}])


@pipeline(enable_cache=False)
def visualized_pipeline():
    my_step()
    facets_visualization_step()


def test_the_docs_steps_visualizations_reach_the_version_page(
    client, owner, broker, django_capture_on_commit_callbacks
):
    # Steps are sent after commit; the test's transaction never commits, so run the callbacks.
    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline_run_create(spec=visualized_pipeline.compile(), user=owner)
    broker.drain()

    steps = {step.name: step for step in run.steps.all()}
    assert {name: step.status for name, step in steps.items()} == {
        "my_step": "completed",
        "facets_visualization_step": "completed",
    }, [step.error for step in steps.values()]
    versions = {name: step.output_links.get().artifact_version for name, step in steps.items()}
    csv_response, _ = _page(client, owner, versions["my_step"])
    facets_response, _ = _page(client, owner, versions["facets_visualization_step"])
    frame = _raw(client, versions["facets_visualization_step"], 0)

    (table,) = csv_response.context["visualizations"]
    assert (table.name, table.preview.columns, table.preview.rows) == ("output.csv", ["a", "b", "c"], [["1", "2", "3"]])
    (report,) = facets_response.context["visualizations"]
    assert (report.name, report.preview.kind) == ("visualization.html", "html")
    assert b"".join(frame.streaming_content) == b"<p>reference</p><p>comparison</p>"
