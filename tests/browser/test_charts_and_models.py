"""The metadata explorer's points lead to their runs; holders of the permission move model versions between stages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from pipelines.models import ModelVersion
from tests.browser import browser_pipelines as sample
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trained(running_worker):
    return [sample.training_pipeline.with_options(wait=False)(learning_rate=rate).wait() for rate in (0.01, 0.05, 0.03)]


def test_a_point_in_the_metadata_explorer_opens_the_run_that_logged_it(logged_in_page, trained):
    page = logged_in_page
    page.goto("/metadata/?key=accuracy&target=run")
    expect(page.locator("#chart-status")).to_have_text("3 points plotted.")
    canvas = page.locator("canvas[data-chart=explorer]")
    points = page.request.get(canvas.get_attribute("data-url")).json()["points"]
    # Where Chart.js drew the second point, in the canvas's own pixels.
    spot = canvas.evaluate("(c) => { const p = Chart.getChart(c).getDatasetMeta(0).data[1]; return {x: p.x, y: p.y}; }")

    with page.expect_navigation():
        canvas.click(position=spot)

    assert page.url.endswith(points[1]["url"])
    assert {f"/runs/{run.id}/" for run in trained} >= {points[1]["url"]}
    expect(page.locator("h1")).to_have_text(points[1]["label"])


def test_a_releaser_moves_a_model_version_to_production_through_the_form(page, trained, django_user_model):
    # The permission, not staff status, is what allows it (README: Permissions).
    lead = django_user_model.objects.create_user("lead", "lead@example.com", "pw-lead-123")
    lead.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    log_in(page, username="lead", password="pw-lead-123")
    version = ModelVersion.objects.filter(model__name=sample.CHURN.name).order_by("number").first()

    page.goto(f"/model-versions/{version.id}/")
    page.locator("form.stage-form select[name=stage]").select_option("production")
    with page.expect_navigation():
        page.get_by_role("button", name="Change stage").click()

    message = f"Version {version.name} of {sample.CHURN.name} is now in production"
    expect(page.locator(".messages")).to_contain_text(message)
    version.refresh_from_db()
    assert version.stage == "production"


def test_a_person_without_the_permission_sees_no_stage_form(logged_in_page, trained):
    page = logged_in_page
    version = ModelVersion.objects.filter(model__name=sample.CHURN.name).first()

    page.goto(f"/model-versions/{version.id}/")

    expect(page.locator("h1")).to_contain_text(sample.CHURN.name)
    expect(page.get_by_role("button", name="Change stage")).to_have_count(0)
