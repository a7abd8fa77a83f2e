"""A run's configuration read as ZenML's code reads it (`pipeline_run.config.extra`), in a
step and through the Client, and still as the dict it is (`config["extra"]`)."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from pipelines import get_step_context, pipeline, step
from pipelines.models import StepRun
from pipelines.sdk.client import Client
from pipelines.sdk.context import PipelineRunInfo
from pipelines.sdk.run_configuration import RunConfiguration
from pipelines.services.runs import pipeline_run_create
from tests.unit.pipelines.sdk.test_tags import in_process_client  # noqa: F401 (a fixture)


def test_keys_read_as_attributes_and_the_dict_is_unchanged():
    config = RunConfiguration({"extra": {"team": "ml"}, "enable_cache": False, "tags": ["a"]})

    assert config.extra == {"team": "ml"}
    assert config["extra"] is config.extra
    assert config.enable_cache is False
    assert config.tags == ["a"]
    assert config == {"extra": {"team": "ml"}, "enable_cache": False, "tags": ["a"]}
    assert json.loads(json.dumps(config)) == dict(config)
    assert config.get("missing", 1) == 1


def test_a_zenml_field_the_run_did_not_set_reads_as_zenml_s_default():
    config = RunConfiguration()

    assert config.extra == {}
    assert config.settings == {}
    assert config.enable_cache is None
    config.extra["x"] = 1  # a fresh default each time: nothing leaks into the next read
    assert config.extra == {}
    assert "extra" not in config


def test_any_other_missing_attribute_is_an_attribute_error_naming_what_there_is():
    config = RunConfiguration({"extra": {}})

    with pytest.raises(AttributeError, match="no 'extras'; it has: extra"):
        config.extras
    assert not hasattr(config, "__deepcopy_me__")


def test_it_copies_and_pickles_as_a_dict_does():
    config = RunConfiguration({"extra": {"k": [1]}})

    for twin in (copy.deepcopy(config), pickle.loads(pickle.dumps(config)), copy.copy(config)):
        assert type(twin) is RunConfiguration
        assert twin == config
        assert twin.extra == {"k": [1]}


def test_the_step_contexts_run_info_wraps_a_plain_dict():
    info = PipelineRunInfo(id=1, name="r", status="running", config={"extra": {"a": 1}})

    assert info.config.extra == {"a": 1}
    assert info.config["extra"] == {"a": 1}
    assert PipelineRunInfo(id=1, name="r", status="running", config=None).config.extra == {}  # type: ignore[arg-type]


@step
def reads_extra() -> int:
    # ZenML's docs ("extra"): the run's extra, from inside a step.
    config = get_step_context().pipeline_run.config
    assert config.extra == {"team": "ml", "trainings": 2}
    assert config["extra"]["team"] == "ml"
    return config.extra["trainings"]


@pipeline(name="reading_extra", enable_cache=False, extra={"team": "ml", "trainings": 2})
def reading_extra():
    reads_extra()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_process_client")
def test_a_step_reads_its_runs_extra_as_an_attribute(owner, broker):
    run = pipeline_run_create(spec=reading_extra.compile(), user=owner)
    broker.drain()

    step_run = StepRun.objects.get(pipeline_run=run, name="reads_extra")
    assert step_run.status == "completed", step_run.error
    fetched = Client().get_pipeline_run(run.id)
    assert fetched.config.extra == {"team": "ml", "trainings": 2}
    assert fetched.config["extra"] == {"team": "ml", "trainings": 2}
    assert fetched.steps["reads_extra"].outputs["output"].load() == 2
