"""A person follows a run in the browser: the DAG live, a step's log, previews, compare."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from pipelines.models import ArtifactVersion, PipelineRun, StepRun
from tests.browser import browser_pipelines as sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RUNNING_OR_WAITING = re.compile(r"running|queued|pending", re.IGNORECASE)


def dag_node(page, step_name: str):
    return page.locator(f"a.dag-node[aria-label^='{step_name}:']")


def test_the_run_page_follows_a_running_pipeline_to_completed_without_a_reload(logged_in_page, running_worker):
    page = logged_in_page
    run = sample.live_pipeline.with_options(wait=False)(name="live", seconds=3.0)

    page.goto(f"/runs/{run.id}/")
    page.evaluate("window.__samePage = 'marker'")
    nap = dag_node(page, "nap")
    expect(nap.locator(".dag-status")).to_have_text(RUNNING_OR_WAITING)

    # The poll (every 1.5 s) brings every step to completed.
    expect(nap.locator(".dag-status")).to_contain_text("Completed", timeout=30_000)
    expect(dag_node(page, "wrap_up").locator(".dag-status")).to_contain_text("Completed", timeout=15_000)
    expect(page.locator("#run-status")).to_contain_text("Completed")
    expect(page.locator("#run-live-note")).to_have_text(
        "The run finished: completed. Reload to see its outputs and metadata."
    )
    assert nap.get_attribute("class") == "dag-node status-completed"
    assert page.evaluate("window.__samePage") == "marker", "the page was reloaded"
    assert run.wait().status == "completed"


def test_a_steps_page_shows_its_captured_log(logged_in_page, running_worker):
    page = logged_in_page
    run = sample.live_pipeline.with_options(wait=False)(name="log", seconds=0.0).wait()

    page.goto(f"/runs/{run.id}/")
    with page.expect_navigation():
        dag_node(page, "greet").click()

    expect(page.locator("h1")).to_have_text("greet")
    expect(page.locator("#step-log")).to_contain_text(sample.LOG_LINE)
    assert page.url.endswith(f"/steps/{run.steps['greet'].id}/")


def test_a_running_steps_log_grows_on_its_page_without_a_reload(logged_in_page, running_worker):
    page = logged_in_page
    run = sample.talking_pipeline.with_options(wait=False)(seconds=4.0)
    step = StepRun.objects.get(pipeline_run_id=run.id, name="talk")
    deadline = time.monotonic() + 20
    while not StepRun.objects.get(id=step.id).logs and time.monotonic() < deadline:
        time.sleep(0.2)

    page.goto(f"/steps/{step.id}/")
    page.evaluate("window.__samePage = 'marker'")
    log = page.locator("#step-log")
    expect(log).to_contain_text(sample.FIRST_LINE)
    expect(log).not_to_contain_text(sample.LAST_LINE)

    expect(log).to_contain_text(sample.LAST_LINE, timeout=20_000)
    expect(page.locator("#step-log-note")).to_have_text(
        "The step finished (completed). Reload to see its outputs and metadata.", timeout=20_000
    )
    assert page.evaluate("window.__samePage") == "marker", "the page was reloaded"
    assert log.inner_text().count(sample.FIRST_LINE) == 1


def test_two_runs_ticked_in_the_runs_list_are_compared_side_by_side(logged_in_page, running_worker):
    page = logged_in_page
    first = sample.live_pipeline.with_options(wait=False)(name="first", seconds=0.0).wait()
    second = sample.live_pipeline.with_options(wait=False)(name="second", seconds=0.0).wait()

    page.goto("/runs/")
    page.get_by_label(f"Select {first.name} to compare").check()
    page.get_by_label(f"Select {second.name} to compare").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Compare selected").click()

    columns = page.locator("table.compare > thead > tr > th")
    expect(columns).to_have_count(3)
    assert {text.strip() for text in columns.all_inner_texts()[1:]} == {first.name, second.name}
    # The runs' parameters differ, and the comparison says so.
    name_row = page.locator("table.compare tr", has=page.locator("th", has_text=re.compile(r"^\s*name\b")))
    expect(name_row.first).to_contain_text("first")
    expect(name_row.first).to_contain_text("second")
    expect(name_row.first).to_contain_text("changed")


def test_an_artifact_versions_page_previews_json_and_a_dataframe(logged_in_page, running_worker):
    page = logged_in_page
    run = sample.live_pipeline.with_options(wait=False)(name="preview", seconds=0.0).wait()
    greeting = run.steps["greet"].outputs["greeting"]
    table = run.steps["nap"].outputs["table"]

    page.goto(f"/artifact-versions/{greeting.id}/")
    expect(page.locator("pre.preview-text")).to_contain_text('"greeting": "hello preview"')

    page.goto(f"/artifact-versions/{table.id}/")
    preview = page.locator("#preview .preview-table table")
    expect(preview.locator("thead th")).to_have_text(["word", "length"])
    expect(preview.locator("tbody tr").first).to_contain_text("hello")
    # The pandas materializer's own CSV visualization (its head, index included) is
    # shown apart from the preview.
    visualization = page.locator("#visualizations table")
    expect(visualization.locator("thead th")).to_have_text(["", "word", "length"])
    expect(visualization.locator("tbody tr").first).to_contain_text("hello")
    assert ArtifactVersion.objects.get(id=table.id).artifact.name == "table"


def test_stop_and_rerun_from_the_run_page(logged_in_page, running_worker):
    page = logged_in_page
    run = sample.live_pipeline.with_options(wait=False)(name="stop", seconds=4.0)
    page.goto(f"/runs/{run.id}/")
    expect(dag_node(page, "nap").locator(".dag-status")).to_have_text(re.compile("Running", re.IGNORECASE))

    with page.expect_navigation():
        page.get_by_role("button", name="Stop").click()
    expect(page.locator(".messages")).to_contain_text("running steps finish first")
    # The running step finishes; the one after it never starts.
    expect(dag_node(page, "wrap_up").locator(".dag-status")).to_contain_text("Stopped", timeout=20_000)
    expect(page.locator("#run-status")).to_contain_text("Stopped", timeout=20_000)
    assert run.wait(raise_on_failure=False).status == "stopped"

    page.reload()
    with page.expect_navigation():
        page.get_by_role("button", name="Re-run").click()
    expect(page.locator(".messages")).to_contain_text(f"a re-run of {run.name}")
    rerun_id = int(re.search(r"/runs/(\d+)/", page.url).group(1))
    assert rerun_id != run.id
    expect(page.locator("#run-status")).to_contain_text("Completed", timeout=30_000)
    rerun = PipelineRun.objects.get(id=rerun_id)
    assert rerun.status == "completed"
    assert rerun.parameters == {"name": "stop", "seconds": 4.0}
