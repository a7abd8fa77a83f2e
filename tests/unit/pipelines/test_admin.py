"""The admin's schedule pages: schedules (pausing only, through the service), their
firings, pipeline versions and run requests (read-only) render and refuse edits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pipelines.models import RunRequest, Schedule, ScheduleFiring
from pipelines.services.runs import pipeline_run_create
from pipelines.services.schedules import schedule_create, schedule_fire
from pipelines.services.triggers import start_run
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

T0 = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
MODELS = ["schedule", "schedulefiring", "pipelineversion", "runrequest"]


@pytest.fixture
def rows(owner) -> dict[str, object]:
    cron = schedule_create(
        spec=tp.words_pipeline.compile(), user=owner, cron_expression="0 9 * * *", timezone_name="Europe/Paris"
    )
    every = schedule_create(spec=tp.words_pipeline.compile(), user=owner, interval_seconds=60, start_time=T0)
    schedule_fire(schedule_id=every.id, now=T0 + timedelta(seconds=1))
    once = schedule_create(spec=tp.words_pipeline.compile(), user=owner, run_once_start_time=T0, name="once")
    dynamic = pipeline_run_create(spec=tp.loop_pipeline.compile(n=1), user=owner)
    request = start_run(pipeline_version=dynamic.pipeline_version, parameters={"n": 2}, user=owner)
    assert isinstance(request, RunRequest)
    return {
        "schedule": every,
        "schedulefiring": ScheduleFiring.objects.get(schedule=every),
        "pipelineversion": dynamic.pipeline_version,
        "runrequest": request,
        "cron": cron,
        "once": once,
    }


@pytest.mark.parametrize("model", MODELS)
def test_the_changelist_and_change_page_render_and_adding_is_refused(admin_client, rows, model):
    changelist = admin_client.get(reverse(f"admin:pipelines_{model}_changelist"))
    assert changelist.status_code == 200
    assert admin_client.get(reverse(f"admin:pipelines_{model}_change", args=[rows[model].id])).status_code == 200
    assert admin_client.get(reverse(f"admin:pipelines_{model}_add")).status_code == 403


def test_the_schedule_list_shows_each_kind_of_timing(admin_client, rows):
    page = admin_client.get(reverse("admin:pipelines_schedule_changelist")).content.decode()
    assert "cron 0 9 * * *" in page
    assert "every 60 s" in page
    assert f"once at {T0:%Y-%m-%d %H:%M:%S}" in page
    assert "Europe/Paris" in page


@pytest.mark.parametrize("model", ["schedulefiring", "pipelineversion", "runrequest"])
def test_history_pages_have_no_inputs(admin_client, rows, model):
    page = admin_client.get(reverse(f"admin:pipelines_{model}_change", args=[rows[model].id])).content.decode()
    assert 'type="submit" value="Save"' not in page


def test_only_paused_is_editable_and_goes_through_the_service(admin_client, rows):
    schedule = rows["cron"]
    url = reverse("admin:pipelines_schedule_change", args=[schedule.id])
    page = admin_client.get(url).content.decode()
    assert 'name="paused"' in page
    assert 'name="cron_expression"' not in page
    assert 'name="name"' not in page

    response = admin_client.post(
        url, {"paused": "on", "name": "renamed", "cron_expression": "* * * * *", "_save": "Save"}
    )
    assert response.status_code == 302
    paused = Schedule.objects.get(id=schedule.id)
    assert paused.paused is True
    assert (paused.name, paused.cron_expression) == (schedule.name, "0 9 * * *")

    Schedule.objects.filter(id=schedule.id).update(handled_until=None)
    before = timezone.now()
    admin_client.post(url, {"_save": "Save"})
    resumed = Schedule.objects.get(id=schedule.id)
    assert resumed.paused is False
    # Resumed through schedule_update: what fell due while paused is marked handled.
    assert resumed.handled_until is not None
    assert resumed.handled_until >= before


def test_a_staff_member_without_the_permission_cannot_pause(client, django_user_model, rows):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("staff", "staff@example.com", "pw-staff-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_schedule"))
    client.force_login(staff)
    url = reverse("admin:pipelines_schedule_change", args=[rows["schedule"].id])
    assert client.get(url).status_code == 200
    client.post(url, {"paused": "on", "_save": "Save"})
    assert Schedule.objects.get(id=rows["schedule"].id).paused is False
