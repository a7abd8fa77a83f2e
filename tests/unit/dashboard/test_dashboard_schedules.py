"""The Schedules pages: the list with next due times, a schedule's page with the runs
it started, Pause/Resume/Delete for who may, and a scheduled run naming its schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from pipelines.models import Schedule, ScheduleFiring
from pipelines.services.schedules import schedule_create, schedule_fire
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def nightly(owner):
    return schedule_create(
        spec=tp.words_pipeline.compile(word="night"),
        user=owner,
        name="nightly",
        cron_expression="30 2 * * *",
        timezone_name="Europe/Paris",
    )


def test_the_list_shows_each_schedule_with_its_zone_and_next_three_due_times(client, owner, nightly):
    client.force_login(owner)
    page = client.get(reverse("dashboard:schedule-list")).content.decode()
    assert "nightly" in page
    assert "<code>30 2 * * *</code>" in page
    assert "Europe/Paris" in page
    assert nightly.next_due_at.strftime("%Y-%m-%d %H:%M:%S") in page
    assert page.count("<time datetime=") >= 3
    assert "Active" in page


def test_a_schedules_page_lists_the_runs_it_started_and_a_run_names_its_schedule(client, owner, nightly):
    schedule_fire(schedule_id=nightly.id, now=nightly.next_due_at + timedelta(seconds=1))
    run = ScheduleFiring.objects.get(schedule=nightly).run
    client.force_login(owner)
    page = client.get(reverse("dashboard:schedule-detail", args=[nightly.id])).content.decode()
    assert run.name in page
    assert "skipped (only the latest starts)" in page
    assert "night" in page  # its parameters
    assert "Pause" in page
    assert "Delete" in page
    run_page = client.get(reverse("dashboard:run-detail", args=[run.id])).content.decode()
    assert 'id="run-schedule"' in run_page
    assert reverse("dashboard:schedule-detail", args=[nightly.id]) in run_page


def test_pause_resume_and_delete_from_the_page(client, owner, nightly):
    client.force_login(owner)
    client.post(reverse("dashboard:schedule-pause", args=[nightly.id]), {"paused": "true"})
    assert Schedule.objects.get(id=nightly.id).paused
    page = client.get(reverse("dashboard:schedule-detail", args=[nightly.id])).content.decode()
    assert "Resume" in page
    assert "Paused" in page
    client.post(reverse("dashboard:schedule-pause", args=[nightly.id]), {"paused": "false"})
    assert not Schedule.objects.get(id=nightly.id).paused
    response = client.post(reverse("dashboard:schedule-delete", args=[nightly.id]))
    assert response.status_code == 302
    assert not Schedule.objects.filter(id=nightly.id).exists()


def test_a_teammate_sees_no_buttons_and_is_refused(client, teammate, nightly):
    client.force_login(teammate)
    page = client.get(reverse("dashboard:schedule-detail", args=[nightly.id])).content.decode()
    assert "Pause" not in page
    assert "Delete" not in page
    assert client.post(reverse("dashboard:schedule-pause", args=[nightly.id])).status_code == 403
    assert client.post(reverse("dashboard:schedule-delete", args=[nightly.id])).status_code == 403
    assert Schedule.objects.filter(id=nightly.id, paused=False).exists()


def test_a_missing_schedule_is_404(client, owner):
    client.force_login(owner)
    assert client.get(reverse("dashboard:schedule-detail", args=[999])).status_code == 404


def test_an_occurrence_that_could_not_start_says_why(client, owner, nightly):
    Schedule.objects.filter(id=nightly.id).update(parameters={"times": "not a number"})
    due = datetime.now(UTC) + timedelta(days=2)
    schedule_fire(schedule_id=nightly.id, now=due)
    client.force_login(owner)
    page = client.get(reverse("dashboard:schedule-detail", args=[nightly.id])).content.decode()
    assert "Occurrences that started nothing" in page
    assert "times" in page
