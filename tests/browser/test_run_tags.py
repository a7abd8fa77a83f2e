"""A person finds runs by tag in the browser: the runs list's Tag filter, and a tag on
a run's page that leads to the other runs with it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _run(owner, *tags: str):
    return pipeline_run_create(spec=sample.numbers_pipeline.with_options(tags=list(tags)).compile(scale=1), user=owner)


def test_the_runs_list_filters_by_tag_and_a_runs_tag_leads_to_the_others(logged_in_page, owner, no_broker):
    page = logged_in_page
    nightly = _run(owner, "nightly", "gpu")
    weekly = _run(owner, "weekly")
    other_nightly = _run(owner, "nightly")

    page.goto("/runs/")
    page.get_by_label("Tag").fill("nightly")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()

    runs = page.locator("table.runs tbody")
    expect(runs).to_contain_text(nightly.name)
    expect(runs).to_contain_text(other_nightly.name)
    expect(runs).not_to_contain_text(weekly.name)

    page.goto(f"/runs/{nightly.id}/")
    expect(page.locator("#run-tags")).to_have_text("nightly gpu")
    with page.expect_navigation():
        page.locator("#run-tags").get_by_role("link", name="gpu").click()
    assert page.url.endswith("/runs/?tag=gpu")
    expect(runs).to_contain_text(nightly.name)
    expect(runs).not_to_contain_text(other_nightly.name)
