"""A schedule starts runs as its creator only while the creator may start runs: once
the account is deactivated (or deleted) its firings start nothing and say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipelines.models import PipelineRun, ScheduleFiring
from pipelines.services.schedules import schedule_create, schedule_fire
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

T0 = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)


@pytest.mark.parametrize(
    ("spec", "gone"),
    [
        (tp.words_pipeline.compile(), "deactivated"),
        (tp.words_pipeline.compile(), "deleted"),
        (tp.loop_pipeline.compile(), "deactivated"),
    ],
)
def test_a_schedule_of_a_creator_who_left_starts_no_run(django_user_model, spec, gone):
    leaver = django_user_model.objects.create_user("leaver")
    schedule = schedule_create(spec=spec, user=leaver, interval_seconds=60, start_time=T0)
    if gone == "deleted":
        leaver.delete()
    else:
        leaver.is_active = False
        leaver.save()

    result = schedule_fire(schedule_id=schedule.id, now=T0 + timedelta(seconds=1))

    assert result.started == []
    assert not PipelineRun.objects.filter(schedule_id=schedule.id).exists()
    firing = ScheduleFiring.objects.get(schedule_id=schedule.id)
    assert firing.run is None
    assert "creator can no longer start runs" in firing.error
