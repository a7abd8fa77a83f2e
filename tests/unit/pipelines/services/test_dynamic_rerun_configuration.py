"""A dynamic pipeline started again without its code is compiled from its decorated
function on a worker: the configuration its version was recorded with (with_options,
a YAML file) is put back on that compile."""

from __future__ import annotations

import pytest

from pipelines.models import PipelineRun
from pipelines.sdk.spec import reapply_configuration, validate_spec
from pipelines.services.runs import pipeline_run_create
from pipelines.services.triggers import run_request_compile, start_run
from tests.unit import trigger_pipelines as tp

CONFIGURED = {
    "tags": ["nightly"],
    "extra": {"team": "ml"},
    "settings": {"resources": {"cpu_count": 2}},
    "run_name": "loop-{date}-{time}",
    "enable_cache": False,
    "steps": {"number_0": {"extra": {"note": "first"}, "retry": {"max_retries": 2}, "timeout": 30}},
}


def steps_of(spec) -> dict[str, dict]:
    return {step["name"]: step for step in spec["steps"]}


def test_the_recorded_configuration_is_put_back_on_a_plain_compile():
    recorded = tp.loop_pipeline.with_options(**CONFIGURED).compile(n=1)
    again = reapply_configuration(tp.loop_pipeline.compile(n=2), recorded)
    validate_spec(again)
    assert again["tags"] == ["nightly"]
    assert again["extra"] == {"team": "ml"}
    assert again["settings"] == {"resources": {"cpu_count": 2}}
    assert again["run_name_template"] == "loop-{date}-{time}"
    assert again["enable_cache"] is False
    steps = steps_of(again)
    assert steps["number_0"]["extra"] == {"note": "first"}
    assert steps["number_0"]["retry"] == recorded["steps"][0]["retry"]
    assert steps["number_0"]["timeout"] == 30
    assert steps["number_0"]["enable_cache"] is False
    # A step only the new compile invokes: the run's settings, not number_0's options.
    assert steps["number_1"]["settings"] == {"resources": {"cpu_count": 2}}
    assert steps["number_1"]["extra"] == {}
    assert "timeout" not in steps["number_1"]
    # What runs is the new compile's.
    assert steps["number_1"]["parameters"] == {"value": 1}


def test_options_the_recorded_compile_did_not_have_are_removed():
    recorded = tp.loop_pipeline.compile(n=1)
    configured = tp.loop_pipeline.with_options(tags=["x"], steps={"number_0": {"timeout": 5}}).compile(n=1)
    again = reapply_configuration(configured, recorded)
    assert "tags" not in again
    assert "timeout" not in steps_of(again)["number_0"]


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_a_run_request_compiled_on_the_worker_keeps_the_configuration(owner):
    first = pipeline_run_create(spec=tp.loop_pipeline.with_options(**CONFIGURED).compile(n=1), user=owner)
    request = start_run(pipeline_version=first.pipeline_version, parameters={"n": 2}, user=owner, run_name="again")
    done = run_request_compile(request_id=request.id)
    assert done.status == "started", done.error
    run = PipelineRun.objects.get(id=done.run_id)
    assert run.name == "again"  # the request's options still win
    assert run.tags == ["nightly"]
    assert run.config["extra"] == {"team": "ml"}
    steps = steps_of(run.spec)
    assert sorted(steps) == ["number_0", "number_1"]
    assert steps["number_0"]["timeout"] == 30
    assert steps["number_1"]["settings"] == {"resources": {"cpu_count": 2}}
