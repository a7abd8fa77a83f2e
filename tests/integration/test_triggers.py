"""A pipeline submitted once from its code, then started again through the Client
with other parameters and without importing the code: a static DAG reuses its spec,
a dynamic one (a loop over `n`) is compiled again on the worker."""

from __future__ import annotations

import pytest

from pipelines.client import Client
from pipelines.models import PipelineRun, RunRequest, RunTrigger
from pipelines.sdk.exceptions import ServerError
from tests.integration import trigger_pipelines as tp

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_static_pipeline_runs_again_with_a_changed_parameter(running_worker):
    first = tp.trigger_words(word="hi", times=2)
    assert first.steps["exclaim"].output.load() == "HI HI!"

    run = Client().trigger_pipeline("trigger_words", parameters={"word": "yo"}, run_name="yo-run", wait=True)

    assert run.status == "completed"
    assert run.name == "yo-run"
    assert run.steps["exclaim"].output.load() == "YO!"  # times took its default, not the first run's 2
    stored = PipelineRun.objects.get(id=run.id)
    assert stored.trigger == RunTrigger.API
    assert stored.parameters == {"word": "yo", "times": 1, "suffix": "!"}
    assert stored.pipeline_version_id == PipelineRun.objects.get(id=first.id).pipeline_version_id


def test_a_dynamic_pipeline_is_compiled_again_on_the_worker_with_the_new_value(running_worker):
    first = tp.trigger_loop(n=1)
    assert first.steps["total"].output.load() == 1

    run = Client().trigger_pipeline("trigger_loop", parameters={"n": 3}, wait=True)

    assert run.status == "completed"
    assert sorted(run.steps) == ["square_1", "square_2", "square_3", "total"]
    assert run.steps["total"].output.load() == 1 + 4 + 9
    request = RunRequest.objects.get(run_id=run.id)
    # The same code: the same version, though a worker compiled it.
    assert (
        PipelineRun.objects.get(id=run.id).pipeline_version_id
        == PipelineRun.objects.get(id=first.id).pipeline_version_id
    )
    assert request.status == "started"
    assert request.parameters == {"n": 3}


def test_a_bad_parameter_is_a_400_that_names_it(running_worker):
    tp.trigger_words()
    with pytest.raises(ServerError) as refused:
        Client().trigger_pipeline("trigger_words", parameters={"times": "many"})
    assert refused.value.status_code == 400
    assert "times" in str(refused.value)
    assert "takes an integer, got a string" in str(refused.value)
    with pytest.raises(ServerError, match="no parameter 'colour'"):
        Client().trigger_pipeline("trigger_words", parameters={"colour": "red"})
