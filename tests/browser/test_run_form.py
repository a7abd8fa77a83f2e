"""A person starts a run from the dashboard with a changed parameter, without the
pipeline's code, and re-runs it from a form prefilled with that run's parameters."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pipelines.models import PipelineRun, RunTrigger
from tests.integration import trigger_pipelines as tp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_run_a_pipeline_from_its_page_with_a_changed_parameter_then_rerun_it(logged_in_page, running_worker):
    page = logged_in_page
    first = tp.trigger_words(word="hi", times=1)

    page.goto(f"/pipelines/{PipelineRun.objects.get(id=first.id).pipeline_id}/")
    with page.expect_navigation():
        page.locator("#run-pipeline").click()
    word = page.get_by_label("word", exact=True)
    expect(word).to_have_value("hi")  # the default, filled in
    expect(page.get_by_label("times", exact=True)).to_have_value("1")
    expect(page.get_by_label("Use cache")).not_to_be_checked()  # the pipeline's own setting

    # A mistake is shown next to its field, and what was typed is kept.
    word.fill("browser")
    page.get_by_label("times", exact=True).fill("2")
    page.get_by_label("Run name").fill("{nope}")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#run_name-error")).to_contain_text("may only use the placeholders")
    expect(page.get_by_label("word", exact=True)).to_have_value("browser")

    page.get_by_label("Run name").fill("")
    with page.expect_navigation():
        page.get_by_role("button", name="Start run").click()
    expect(page.locator(".messages")).to_contain_text("Started")
    run_id = int(re.search(r"/runs/(\d+)/", page.url).group(1))
    expect(page.locator("#run-status")).to_contain_text("Completed", timeout=30_000)
    run = PipelineRun.objects.get(id=run_id)
    assert run.trigger == RunTrigger.API
    assert run.parameters == {"word": "browser", "times": 2, "suffix": "!"}
    output = run.steps.get(name="exclaim").output_links.get().artifact_version
    from pipelines.client import Client

    assert Client().get_artifact_version(output.id).load() == "BROWSER BROWSER!"

    # Re-run: the same form, prefilled with this run's parameters.
    with page.expect_navigation():
        page.get_by_role("link", name="Re-run with other parameters…").click()
    expect(page.locator("h1")).to_contain_text(f"Re-run {run.name}")
    expect(page.get_by_label("word", exact=True)).to_have_value("browser")
    expect(page.get_by_label("times", exact=True)).to_have_value("2")
    page.get_by_label("suffix", exact=True).fill("?")
    with page.expect_navigation():
        page.get_by_role("button", name="Start run").click()
    expect(page.locator(".messages")).to_contain_text(f"a re-run of {run.name}")
    expect(page.locator("#run-status")).to_contain_text("Completed", timeout=30_000)
    rerun = PipelineRun.objects.get(id=int(re.search(r"/runs/(\d+)/", page.url).group(1)))
    assert (rerun.trigger, rerun.rerun_of_id) == (RunTrigger.RERUN, run.id)
    expect(page.locator("#run-trigger")).to_have_text(f"a re-run of run {run.id}")
    assert rerun.parameters == {"word": "browser", "times": 2, "suffix": "?"}
