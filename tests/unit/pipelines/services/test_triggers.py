"""start_run: a run of a stored pipeline version with new parameters, without its code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from pipelines.models import PipelineRun, PipelineVersion, RunRequest, RunRequestStatus, RunTrigger
from pipelines.services import triggers
from pipelines.services.runs import pipeline_run_create
from pipelines.services.triggers import COMPILE_STALE_SECONDS, run_request_compile, start_run
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def sent(monkeypatch):
    """Compile tasks that would be sent: (request id, queue)."""
    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(triggers, "_send_compile", lambda request_id, *, queue: calls.append((request_id, queue)))
    return calls


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner")


def test_every_run_records_its_version_and_runs_with_other_values_share_it(owner):
    first = pipeline_run_create(spec=tp.words_pipeline.compile(word="a"), user=owner)
    second = pipeline_run_create(spec=tp.words_pipeline.compile(word="b", times=5), user=owner)
    assert first.pipeline_version_id == second.pipeline_version_id
    assert first.trigger == RunTrigger.CODE
    version = first.pipeline_version
    assert (version.number, version.dag) == (1, "static")
    assert version.pipeline_source == "tests.unit.trigger_pipelines:words_pipeline"
    assert [d["name"] for d in version.parameter_schema] == ["word", "times", "suffix", "ratio"]


def test_a_changed_shape_is_a_new_version_numbered_after_the_last(owner):
    pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)
    spec = tp.words_pipeline.compile()
    spec["steps"][1]["retry"] = {"max_retries": 2, "delay": 0, "backoff": 1}
    run = pipeline_run_create(spec=spec, user=owner)
    assert run.pipeline_version.number == 2
    assert PipelineVersion.objects.filter(pipeline=run.pipeline).count() == 2


def test_a_static_run_starts_at_once_with_the_new_values_in_its_steps(owner):
    version = pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner).pipeline_version
    run = start_run(pipeline_version=version, parameters={"word": "yo", "times": 3}, user=owner, run_name="mine")
    assert isinstance(run, PipelineRun)
    assert run.name == "mine"
    assert run.trigger == RunTrigger.API
    assert run.triggered_by == owner
    assert run.pipeline_version == version
    assert run.parameters == {"word": "yo", "times": 3, "suffix": "!", "ratio": None}
    assert run.steps.get(name="make_text").parameters == {"word": "yo", "times": 3}
    assert run.steps.get(name="shout").parameters == {"suffix": "!"}


def test_use_cache_applies_to_every_step_of_the_new_run(owner):
    version = pipeline_run_create(spec=tp.loop_pipeline.compile(n=1), user=owner).pipeline_version
    spec = tp.nested_pipeline.compile()
    version = pipeline_run_create(spec=spec, user=owner).pipeline_version
    run = start_run(pipeline_version=version, parameters={}, enable_cache=False, user=owner)
    assert {step.spec["enable_cache"] for step in run.steps.all()} == {False}
    assert run.config["enable_cache"] is False


@pytest.mark.parametrize(
    ("parameters", "field", "message"),
    [
        ({"times": "three"}, "times", "takes an integer, got a string"),
        ({"times": 1.5}, "times", "takes an integer, got a number"),
        ({"wrod": "x"}, "wrod", "has no parameter 'wrod'"),
        ({"word": ["x"]}, "word", "takes a string, got an array"),
        ([1, 2], "parameters", "must be an object"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter_and_nothing_is_stored(owner, parameters, field, message):
    version = pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner).pipeline_version
    with pytest.raises(ValidationError) as refused:
        start_run(pipeline_version=version, parameters=parameters, user=owner)
    assert list(refused.value.message_dict) == [field]
    assert message in refused.value.message_dict[field][0]
    assert PipelineRun.objects.count() == 1


@pytest.mark.parametrize(
    ("options", "field"),
    [({"run_name": "{oops}"}, "run_name"), ({"run_name": 3}, "run_name"), ({"enable_cache": "no"}, "enable_cache")],
)
def test_bad_run_options_are_refused_naming_the_option(owner, options, field):
    version = pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner).pipeline_version
    with pytest.raises(ValidationError) as refused:
        start_run(pipeline_version=version, parameters={}, user=owner, **options)
    assert list(refused.value.message_dict) == [field]


def test_a_rerun_records_the_run_it_repeats(owner):
    first = pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)
    again = start_run(
        pipeline_version=first.pipeline_version,
        parameters=first.parameters,
        user=owner,
        trigger=RunTrigger.RERUN,
        rerun_of=first,
    )
    assert (again.trigger, again.rerun_of) == (RunTrigger.RERUN, first)


def test_a_dynamic_run_is_a_request_that_a_worker_compiles_with_the_new_values(
    owner, sent, django_capture_on_commit_callbacks
):
    version = pipeline_run_create(spec=tp.loop_pipeline.compile(n=1), user=owner).pipeline_version
    assert version.dag == "dynamic"
    with django_capture_on_commit_callbacks(execute=True):
        request = start_run(pipeline_version=version, parameters={"n": 3}, user=owner, run_name="loop-3")
    assert isinstance(request, RunRequest)
    assert sent == [(request.id, "pipelines")]
    assert request.status == RunRequestStatus.PENDING

    done = run_request_compile(request_id=request.id)
    assert done.status == RunRequestStatus.STARTED
    run = done.run
    assert run.name == "loop-3"
    assert sorted(run.steps.values_list("name", flat=True)) == ["number_0", "number_1", "number_2"]
    assert run.pipeline_version == version  # the same code: the same version
    assert run.trigger == RunTrigger.API
    # A second delivery of the task does nothing.
    assert run_request_compile(request_id=request.id) is None
    assert PipelineRun.objects.count() == 2


def test_a_request_whose_code_cannot_be_imported_fails_with_the_reason(owner, sent):
    version = pipeline_run_create(spec=tp.loop_pipeline.compile(n=1), user=owner).pipeline_version
    PipelineVersion.objects.filter(id=version.id).update(pipeline_source="tests.unit.no_such_module:loop_pipeline")
    version.refresh_from_db()
    request = start_run(pipeline_version=version, parameters={}, user=owner)
    failed = run_request_compile(request_id=request.id)
    assert failed.status == RunRequestStatus.FAILED
    assert "No module named 'tests.unit.no_such_module'" in failed.error
    assert failed.run is None


def test_a_version_from_before_parameters_were_recorded_says_to_run_it_from_code_once(owner):
    spec = tp.words_pipeline.compile()
    for key in ("parameter_schema", "dag", "parameter_bindings"):
        del spec[key]
    version = pipeline_run_create(spec=spec, user=owner).pipeline_version
    assert not version.starts_without_code
    with pytest.raises(ValidationError, match="run it once more from its code"):
        start_run(pipeline_version=version, parameters={}, user=owner)


def test_a_request_left_compiling_by_a_lost_worker_is_taken_over_by_a_redelivery(owner, sent):
    version = pipeline_run_create(spec=tp.loop_pipeline.compile(n=1), user=owner).pipeline_version
    request = start_run(pipeline_version=version, parameters={"n": 2}, user=owner)
    RunRequest.objects.filter(id=request.id).update(status=RunRequestStatus.COMPILING)  # a worker lost mid-compile
    assert run_request_compile(request_id=request.id) is None  # still fresh: its worker may be at it

    RunRequest.objects.filter(id=request.id).update(
        created_at=timezone.now() - timedelta(seconds=COMPILE_STALE_SECONDS + 1)
    )
    done = run_request_compile(request_id=request.id)
    assert done.status == RunRequestStatus.STARTED
    assert done.run.steps.count() == 2
