"""Runs that differ only by run options share a version, which keeps the latest run's
options for runs started without the code; a changed step makes a new version."""

from __future__ import annotations

import pytest

from pipelines.models import PipelineVersion
from pipelines.services.runs import pipeline_run_create
from pipelines.services.triggers import start_run
from tests.unit import trigger_pipelines as tp

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


def test_runs_differing_only_by_tags_extra_and_settings_share_one_version(owner):
    first = pipeline_run_create(spec=tp.words_pipeline.with_options(tags=["a"]).compile(), user=owner)
    options = {"tags": ["b"], "extra": {"k": 1}, "settings": {"resources": {"cpu_count": 2}}}
    second = pipeline_run_create(spec=tp.words_pipeline.with_options(**options).compile(word="x"), user=owner)
    assert second.pipeline_version_id == first.pipeline_version_id
    version = PipelineVersion.objects.get(id=first.pipeline_version_id)
    assert version.number == 1
    # The version keeps the latest run's options: a run started without the code gets them.
    assert (version.spec["tags"], version.spec["extra"], version.spec["settings"]) == (
        ["b"],
        {"k": 1},
        {"resources": {"cpu_count": 2}},
    )
    triggered = start_run(pipeline_version=version, parameters={"word": "z"}, user=owner)
    assert sorted(triggered.tags) == ["b"]
    assert triggered.config["extra"] == {"k": 1}


def test_a_changed_step_option_makes_a_new_version(owner):
    first = pipeline_run_create(spec=tp.words_pipeline.compile(), user=owner)
    timed = pipeline_run_create(
        spec=tp.words_pipeline.with_options(steps={"shout": {"timeout": 30}}).compile(), user=owner
    )
    assert timed.pipeline_version_id != first.pipeline_version_id
    assert PipelineVersion.objects.get(id=timed.pipeline_version_id).number == 2


def test_a_rerun_repeats_its_own_runs_options_not_the_versions_latest(owner):
    from pipelines.models import RunTrigger
    from pipelines.services.triggers import run_request_compile

    first = pipeline_run_create(spec=tp.words_pipeline.with_options(tags=["a"], extra={"n": 1}).compile(), user=owner)
    pipeline_run_create(spec=tp.words_pipeline.with_options(tags=["b"]).compile(), user=owner)
    version = first.pipeline_version
    rerun = start_run(pipeline_version=version, parameters={}, user=owner, trigger=RunTrigger.RERUN, rerun_of=first)
    assert (rerun.tags, rerun.config["extra"]) == (["a"], {"n": 1})
    assert start_run(pipeline_version=version, parameters={}, user=owner).tags == ["b"]

    dynamic = pipeline_run_create(spec=tp.loop_pipeline.with_options(tags=["old"]).compile(n=1), user=owner)
    pipeline_run_create(spec=tp.loop_pipeline.with_options(tags=["new"]).compile(n=1), user=owner)
    request = start_run(
        pipeline_version=dynamic.pipeline_version,
        parameters={"n": 2},
        user=owner,
        trigger=RunTrigger.RERUN,
        rerun_of=dynamic,
    )
    done = run_request_compile(request_id=request.id)
    assert done.run.tags == ["old"]
