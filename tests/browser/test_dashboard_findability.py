"""What a new user met first (issue 14): the metadata explorer draws no empty epoch
chart, metadata tables keep their Key column readable, a cached run says where its
outputs came from, the workers page, and search from the header box."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pipelines.models import PipelineRun
from tests.browser import browser_pipelines as sample
from tests.browser.conftest import DESKTOP, PHONE, scroll_widths
from tests.unit.dashboard_data import log, make_model_version, make_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _tick_labels(page) -> list[str]:
    return page.locator("canvas[data-chart=explorer]").evaluate(
        "(c) => Chart.getChart(c).scales.x.ticks.map((t) => String(t.label))"
    )


def test_the_explorer_opens_on_a_key_with_points_and_never_draws_an_epoch_axis(logged_in_page, owner):
    page = logged_in_page
    # An older run key, and the newest numeric metadata on model versions only.
    for n in range(3):
        log("pipeline_run", make_run(owner, name=f"r{n}").id, accuracy=0.8 + n / 100)
    for n in range(2):
        log("model_version", make_model_version(owner).id, f1=0.5 + n / 10)

    page.goto("/metadata/")

    expect(page.locator("#chart-status")).to_have_text("2 points plotted.")
    expect(page.locator("select[name=key]")).to_have_value("f1")
    expect(page.locator("select[name=target]")).to_have_value("model_version")
    labels = _tick_labels(page)
    assert labels
    assert not [label for label in labels if "1970" in label], labels

    # A key on a target where it has no points: no chart at all, and a sentence with a way out.
    page.goto("/metadata/?key=f1&target=run")
    expect(page.locator("canvas")).to_have_count(0)
    expect(page.locator("#explorer-empty")).to_contain_text("No runs have a numeric f1, so there is no chart.")
    with page.expect_navigation():
        page.locator("#explorer-empty").get_by_role("link", name="model versions").click()
    expect(page.locator("#chart-status")).to_have_text("2 points plotted.")


def test_the_explorer_with_no_numeric_metadata_says_what_to_do_and_draws_nothing(logged_in_page, owner):
    page = logged_in_page
    log("pipeline_run", make_run(owner).id, note="only text")

    page.goto("/metadata/")

    expect(page.locator("canvas")).to_have_count(0)
    expect(page.locator("#explorer-empty")).to_contain_text("log_metadata(")


LONG_VALUE = "GradientBoostingClassifier(" + ", ".join(f"parameter_{n}={n * 0.125}" for n in range(60)) + ")"
UNBROKEN_VALUE = "x" * 600


def _one_line(page, selector: str) -> list[dict]:
    """Cells under `selector` whose text takes more than one line or overflows the cell."""
    return page.locator(selector).evaluate_all(
        """(cells) => cells.filter((cell) => cell.offsetParent !== null).map((cell) => {
             const range = document.createRange();
             range.selectNodeContents(cell);
             const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
             return {text: cell.textContent.trim(), lines, textWidth: range.getBoundingClientRect().width,
                     cellWidth: cell.clientWidth};
           }).filter((c) => c.lines !== 1 || c.textWidth > c.cellWidth)"""
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "375px"])
def test_metadata_tables_keep_keys_and_types_on_one_line_beside_long_values(logged_in_page, owner, viewport):
    page = logged_in_page
    page.set_viewport_size(viewport)
    run = make_run(owner, name="long-values")
    log("pipeline_run", run.id, estimator=LONG_VALUE, blob=UNBROKEN_VALUE, learning_rate_schedule="cosine", n=3)
    log("pipeline_run", run.id, settings={"layers": list(range(80)), "name": "wide"})

    page.goto(f"/runs/{run.id}/")

    key_cells = page.locator("table.metadata-table td.meta-key")
    expect(key_cells).to_have_count(5)
    assert _one_line(page, "table.metadata-table td.meta-key") == []
    assert _one_line(page, "table.metadata-table th") == []
    if viewport is DESKTOP:
        assert _one_line(page, "table.metadata-table td.meta-type") == []
    # The long values wrap inside their own column; the page does not scroll sideways.
    value = page.locator("table.metadata-table tr", has_text="estimator").locator("td.meta-value")
    assert value.evaluate("(cell) => cell.getBoundingClientRect().height") > 40
    assert scroll_widths(page)[0] <= viewport["width"]


def test_search_from_the_header_box_finds_a_run_and_opens_it(logged_in_page, owner):
    page = logged_in_page
    target = make_run(owner, name="churn-weekly-42", pipeline="churn_training")
    make_run(owner, name="fraud-weekly-1", pipeline="fraud_training")
    make_model_version(owner, model="churn-model")

    page.goto("/runs/")
    page.keyboard.press("/")  # GitHub's shortcut focuses the box
    expect(page.locator("#header-search")).to_be_focused()
    page.keyboard.type("CHURN")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert "/search/?q=CHURN" in page.url
    expect(page.locator("#search-runs")).to_contain_text("churn-weekly-42")
    expect(page.locator("#search-pipelines")).to_contain_text("churn_training")
    expect(page.locator("#search-models")).to_contain_text("churn-model")
    expect(page.locator("main")).not_to_contain_text("fraud-weekly-1")
    with page.expect_navigation():
        page.locator("#search-runs").get_by_role("link", name="churn-weekly-42").click()
    assert page.url.endswith(f"/runs/{target.id}/")

    # "/" typed into a field is a character, not the shortcut.
    page.goto("/runs/")
    page.locator("input[name=name]").focus()
    page.keyboard.type("a/b")
    expect(page.locator("input[name=name]")).to_have_value("a/b")


def test_a_search_too_long_is_a_clear_page(logged_in_page, browser_problems):
    page = logged_in_page
    browser_problems.expect(r"status of 400")

    response = page.goto("/search/?q=" + "a" * 5000)

    assert response.status == 400
    expect(page.locator("#search-error")).to_contain_text("at most 200")


def test_the_workers_page_shows_the_live_worker_and_the_step_it_is_running(logged_in_page, running_worker):
    page = logged_in_page
    run = sample.talking_pipeline.with_options(wait=False)(seconds=3.0)

    page.goto("/")
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Workers").click()
    expect(page.locator("h1")).to_have_text("Workers")
    worker = page.locator("section.worker").first
    expect(worker).to_contain_text("✓ alive")
    expect(worker).to_contain_text("pipelines")  # its queue
    # The step shows up under "Running now" once the worker claims it (the page is
    # server-rendered: reload until then).
    talk = worker.locator(".worker-running").get_by_role("link", name="talk", exact=True)
    for _ in range(40):
        if talk.count():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(worker.locator(".worker-running h3")).to_have_text("Running now (1)")
    with page.expect_navigation():
        talk.click()
    assert re.search(r"/steps/\d+/$", page.url)
    run.wait()


def test_a_fully_cached_run_says_so_and_links_the_run_it_was_cached_from(logged_in_page, running_worker):
    page = logged_in_page
    cached_pipeline = sample.live_pipeline.with_options(enable_cache=True, wait=False)
    first = cached_pipeline(name="cache-me", seconds=0.0).wait()
    second = cached_pipeline(name="cache-me", seconds=0.0).wait()
    assert set(PipelineRun.objects.get(id=second.id).steps.values_list("status", flat=True)) == {"cached"}

    page.goto(f"/runs/{second.id}/")

    expect(page.locator("#timeline")).to_contain_text("every step was cached")
    expect(page.locator("#timeline")).not_to_contain_text("No step has been queued yet.")
    sources = page.locator("#cached-sources")
    expect(sources).to_contain_text("Every step of this run was cached")
    with page.expect_navigation():
        sources.get_by_role("link", name=first.name).click()
    assert page.url.endswith(f"/runs/{first.id}/")
