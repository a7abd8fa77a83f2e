"""A step cannot inject script into the dashboard: markup that a step puts in its log,
metadata keys and values, parameters, run name, artifact tags, table cells and HTML
output shows as text (or stays in the sandboxed frame), on every page that shows it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from pipelines.models import ArtifactVersion, ModelVersion, PipelineRun
from tests.browser import browser_pipelines as sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def assert_no_script_ran(page, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    for frame in page.frames:
        assert frame.evaluate("window.__xss") is None, f"a payload ran on {path} (frame {frame.url})"


def test_markup_from_a_step_never_runs_on_any_page(logged_in_page, running_worker, browser_problems):
    page = logged_in_page
    # The sandboxed HTML preview refusing the report's script and image is the
    # browser doing its job; it says so on the console.
    browser_problems.expect(
        r"/preview/:\d+\): Blocked script execution in '[^']+/preview/' because the document's frame is sandboxed"
    )
    browser_problems.expect(
        r"/preview/:\d+\): Loading the image '[^']+/preview/x' violates the following Content Security Policy"
    )
    pipe = sample.xss_pipeline.with_options(run_name=sample.SCRIPT_PAYLOAD + "{time}", wait=False)
    run = pipe(label=sample.SCRIPT_PAYLOAD).wait()
    other = pipe(label=sample.ATTRIBUTE_PAYLOAD).wait()
    assert run.status == other.status == "completed"
    assert run.name.startswith(sample.SCRIPT_PAYLOAD)
    stored = PipelineRun.objects.get(id=run.id)
    outputs = run.steps["inject"].outputs
    versions = {name: ArtifactVersion.objects.get(id=output.id) for name, output in outputs.items()}
    assert versions["payload_json"].tags == list(sample.PAYLOADS)
    model_version = ModelVersion.objects.get(id=stored.model_version_id)
    assert model_version.model.description == sample.SCRIPT_PAYLOAD + sample.ATTRIBUTE_PAYLOAD

    pages = [
        "/",
        "/runs/",
        f"/runs/?{urlencode({'name': sample.SCRIPT_PAYLOAD})}",
        f"/runs/{run.id}/",
        f"/pipelines/{stored.pipeline_id}/",
        "/pipelines/",
        f"/steps/{run.steps['inject'].id}/",
        f"/steps/{run.steps['read_payload'].id}/",
        "/artifacts/",
        *(f"/artifacts/{version.artifact_id}/" for version in versions.values()),
        *(f"/artifact-versions/{version.id}/" for version in versions.values()),
        f"/compare/?run={run.id}&run={other.id}",
        f"/compare/?run={run.id}&run={other.id}&diff=1",
        "/models/",
        f"/models/{model_version.model_id}/",
        f"/model-versions/{model_version.id}/",
        "/metadata/",
        *(
            f"/metadata/?{urlencode({'key': key, 'target': target})}"
            for key in (*sample.PAYLOADS, "accuracy")
            for target in ("run", "step_run", "artifact_version", "model_version")
        ),
    ]
    for path in pages:
        assert_no_script_ran(page, path)

    # The payloads are there, as text.
    page.goto(f"/steps/{run.steps['inject'].id}/")
    expect(page.locator("#step-log")).to_contain_text(sample.SCRIPT_PAYLOAD)
    expect(page.locator("#step-log")).to_contain_text(sample.ATTRIBUTE_PAYLOAD)
    expect(page.locator("main")).to_contain_text(sample.ATTRIBUTE_PAYLOAD)  # a metadata value
    page.goto(f"/runs/{run.id}/")
    expect(page.locator("h1")).to_have_text(run.name)
    page.goto(f"/model-versions/{model_version.id}/")
    expect(page.locator("main")).to_contain_text(sample.SCRIPT_PAYLOAD + sample.ATTRIBUTE_PAYLOAD)
    page.goto(f"/artifact-versions/{versions['payload_table'].id}/")
    expect(page.locator(".preview-table thead th").first).to_have_text(sample.SCRIPT_PAYLOAD)
    # HTML output is shown only in a frame that may not run scripts.
    page.goto(f"/artifact-versions/{versions['report'].id}/")
    frame = page.locator("iframe.preview-frame")
    assert frame.get_attribute("sandbox") == ""
    expect(page.frame_locator("iframe.preview-frame").locator("h1")).to_have_text("report")
    assert any("Blocked script execution" in problem for problem in browser_problems.expected)
