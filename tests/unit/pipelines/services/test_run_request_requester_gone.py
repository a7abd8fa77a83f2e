"""A run request compiled after its requester was deactivated or deleted starts no run:
the run would act as that account (its steps' run tokens too)."""

from __future__ import annotations

import pytest

from pipelines.models import PipelineRun, RunRequestStatus
from pipelines.services.runs import pipeline_run_create
from pipelines.services.triggers import run_request_compile, start_run
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.mark.parametrize("gone", ["deactivated", "deleted"])
def test_a_request_of_a_user_who_left_fails_saying_why(django_user_model, gone):
    owner = django_user_model.objects.create_user("owner")
    leaver = django_user_model.objects.create_user("leaver")
    version = pipeline_run_create(spec=tp.loop_pipeline.compile(n=1), user=owner).pipeline_version
    request = start_run(pipeline_version=version, parameters={"n": 2}, user=leaver)
    if gone == "deleted":
        leaver.delete()
    else:
        leaver.is_active = False
        leaver.save()

    failed = run_request_compile(request_id=request.id)

    assert failed.status == RunRequestStatus.FAILED
    assert failed.run is None
    assert "can no longer start runs" in failed.error
    assert PipelineRun.objects.count() == 1
