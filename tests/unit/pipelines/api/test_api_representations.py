"""Hand-built API representations give exactly what DRF's serializers would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rest_framework import serializers

from pipelines.api import serializers as s
from pipelines.models import PipelineRun
from pipelines.services.runs import pipeline_run_create
from tests.integration import sample_pipelines as sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(owner, no_broker) -> PipelineRun:
    run = pipeline_run_create(spec=sample.numbers_pipeline.compile(scale=3), user=owner)
    PipelineRun.objects.filter(id=run.id).update(finished_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    return PipelineRun.objects.select_related("pipeline", "triggered_by").get(id=run.id)


def test_a_runs_list_item_matches_the_serializers_fields(run):
    serializer = s.PipelineRunSerializer()

    by_hand = serializer.to_representation(run)
    by_drf = serializers.ModelSerializer.to_representation(serializer, run)

    assert by_hand == dict(by_drf)
    assert by_hand["finished_at"] == "2026-01-02T03:04:05.000006Z"
    assert by_hand["started_at"] is None


def test_a_run_without_a_user_has_no_triggered_by(run):
    PipelineRun.objects.filter(id=run.id).update(triggered_by=None)
    run = PipelineRun.objects.select_related("pipeline", "triggered_by").get(id=run.id)

    assert s.run_representation(run)["triggered_by"] is None
