"""The pages fit the screen at 1280 px and at 375 px, and a keyboard reaches everything."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pipelines.models import ArtifactVersion, ModelVersion, PipelineRun
from tests.browser import browser_pipelines as sample
from tests.browser.conftest import DESKTOP, PHONE, scroll_widths

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def finished_run(running_worker):
    return sample.live_pipeline.with_options(wait=False)(name="layout", seconds=0.0).wait()


@pytest.fixture
def trained_runs(running_worker):
    return [sample.training_pipeline.with_options(wait=False)(learning_rate=rate).wait() for rate in (0.01, 0.03)]


def main_pages(run, trained) -> list[str]:
    greeting = run.steps["greet"].outputs["greeting"].id
    model_version = ModelVersion.objects.get(runs__id=trained[0].id)
    return [
        "/",
        "/pipelines/",
        f"/pipelines/{PipelineRun.objects.get(id=trained[0].id).pipeline_id}/",
        "/runs/",
        f"/runs/{run.id}/",
        f"/steps/{run.steps['nap'].id}/",
        "/artifacts/",
        f"/artifact-versions/{greeting}/",
        f"/artifact-versions/{run.steps['nap'].outputs['table'].id}/",
        "/models/",
        f"/models/{model_version.model_id}/",
        f"/model-versions/{model_version.id}/",
        f"/compare/?run={trained[0].id}&run={trained[1].id}",
        f"/artifacts/{ArtifactVersion.objects.get(id=trained[0].steps['evaluate_classifier'].output.id).artifact_id}/",
        "/metadata/?key=accuracy",
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "375px"])
def test_the_main_pages_never_scroll_sideways_and_say_every_status_in_words(
    logged_in_page, finished_run, trained_runs, viewport
):
    page = logged_in_page
    page.set_viewport_size(viewport)
    too_wide = {}
    colour_only = {}
    statuses_seen = 0
    for path in main_pages(finished_run, trained_runs):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        document_width, window_width = scroll_widths(page)
        if document_width > window_width:
            too_wide[path] = document_width
        statuses = page.locator("[class*=status-]")
        statuses_seen += statuses.count()
        wordless = statuses.evaluate_all(
            "(all) => all.filter((el) => !/[A-Za-z]/.test(el.textContent + (el.getAttribute('aria-label') || '')))"
            ".map((el) => el.outerHTML.slice(0, 120))"
        )
        if wordless:
            colour_only[path] = wordless
    assert too_wide == {}, f"wider than the {viewport['width']} px window: {too_wide}"
    assert statuses_seen > 20
    assert colour_only == {}, f"a status shown by colour alone: {colour_only}"


def test_the_run_page_is_readable_at_375_px(logged_in_page, finished_run):
    page = logged_in_page
    page.set_viewport_size(PHONE)
    page.goto(f"/runs/{finished_run.id}/")

    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("a.dag-node").first).to_be_visible()
    # Wide content scrolls inside its own box, not the page.
    assert scroll_widths(page)[0] <= PHONE["width"]


def test_a_keyboard_reaches_the_navigation_and_every_dag_node(logged_in_page, finished_run):
    page = logged_in_page
    page.goto(f"/runs/{finished_run.id}/")

    reached = []
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                """() => {
                  const el = document.activeElement;
                  return {
                    tag: el.tagName.toLowerCase(),
                    text: (el.getAttribute("aria-label") || el.textContent).trim(),
                    cls: el.getAttribute("class") || "",
                  };
                }"""
            )
        )
    assert reached[0]["text"] == "Skip to content"
    assert {"Runs", "Artifacts", "Models", "Metadata"} <= {r["text"] for r in reached if r["tag"] == "a"}
    nodes = [r for r in reached if "dag-node" in r["cls"]]
    assert {node["text"].split(":")[0] for node in nodes} == {"greet", "nap", "wrap_up"}
    # Enter on a focused node opens the step.
    page.goto(f"/runs/{finished_run.id}/")
    page.locator("a.dag-node").first.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/steps/" in page.url
