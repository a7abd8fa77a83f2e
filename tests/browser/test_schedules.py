"""The Schedules pages in a real browser: the list with next due times, a schedule's
page, pausing and resuming it with its buttons."""

from __future__ import annotations

import pytest

from pipelines.models import Schedule
from pipelines.services.schedules import schedule_create
from tests.integration import sample_pipelines as sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_schedule_is_found_from_the_nav_paused_and_resumed(logged_in_page, owner, no_broker):
    schedule = schedule_create(
        spec=sample.numbers_pipeline.compile(scale=2),
        user=owner,
        name="weekday-mornings",
        cron_expression="0 9 * * mon-fri",
        timezone_name="Europe/Paris",
    )
    page = logged_in_page
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Schedules").click()
    row = page.locator("table.schedules tbody tr", has_text="weekday-mornings")
    assert row.locator("time").count() == 3
    assert "Europe/Paris" in row.inner_text()

    row.get_by_role("link", name="weekday-mornings").click()
    page.get_by_role("button", name="Pause").click()
    assert page.get_by_text("is paused").is_visible()
    assert Schedule.objects.get(id=schedule.id).paused

    page.get_by_role("button", name="Resume").click()
    assert page.get_by_text("is resumed").is_visible()
    assert not Schedule.objects.get(id=schedule.id).paused
