"""Publishing step runs once their rows are committed."""

from __future__ import annotations

import pytest

from pipelines.models import StepRun
from pipelines.services.runs import pipeline_run_create
from pipelines.services.steps import step_runs_redispatch_lost
from tests.unit import wide_steps

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_submission_while_the_broker_is_away_tries_one_send_and_leaves_the_rest_to_the_reaper(owner, broker):
    broker.down()

    run = pipeline_run_create(spec=wide_steps.three_roots.compile(), user=owner)

    roots = list(run.steps.filter(name__startswith="root").values_list("id", flat=True))
    assert len(roots) == 3
    # One refusal, not one connection timeout per ready step.
    assert len(broker.refused) == 1
    assert not StepRun.objects.filter(id__in=roots).exclude(dispatched_at=None).exists()

    broker.up()
    resent = step_runs_redispatch_lost(grace=0)

    assert sorted(resent) == sorted(roots)
    assert sorted(broker.sent) == sorted(roots)


def test_a_submission_with_the_broker_up_sends_every_ready_step_and_marks_them(owner, broker):
    run = pipeline_run_create(spec=wide_steps.three_roots.compile(), user=owner)

    roots = set(run.steps.filter(name__startswith="root").values_list("id", flat=True))
    assert set(broker.sent) == roots
    assert not StepRun.objects.filter(id__in=roots, dispatched_at=None).exists()
