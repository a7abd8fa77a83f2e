"""A pipeline version is its DAG and its code: run options (tags, extra, settings, run
name, cache) make no new version; what changes what runs does."""

from __future__ import annotations

import pytest

from pipelines.sdk.spec import spec_shape_hash
from tests.unit import trigger_pipelines as tp


def shape(pipeline, **parameters) -> str:
    return spec_shape_hash(pipeline.compile(**parameters))


@pytest.mark.parametrize(
    "options",
    [
        {"tags": ["nightly"]},
        {"tags": ["a", "b"]},
        {"extra": {"owner": "ml-team"}},
        {"settings": {"docker": {"parent_image": "python:3.11"}}},
        {"steps": {"shout": {"extra": {"note": "loud"}, "settings": {"resources": {"cpu_count": 2}}}}},
        {"steps": {"shout": {"enable_cache": True}}},
        {"run_name": "words-{date}-{time}"},
        {"enable_cache": True},
    ],
)
def test_run_options_make_no_new_version(options):
    assert shape(tp.words_pipeline.with_options(**options)) == shape(tp.words_pipeline)


def test_exclusive_tags_make_no_new_version():
    from pipelines.sdk.run_tags import Tag

    exclusive = tp.words_pipeline.with_options(tags=[Tag(name="production", exclusive=True)])
    assert exclusive.compile()["exclusive_tags"] == ["production"]
    assert shape(exclusive) == shape(tp.words_pipeline)


def test_a_dynamic_pipelines_run_options_make_no_new_version_either():
    tagged = tp.loop_pipeline.with_options(tags=["x"], extra={"k": 1}, enable_cache=False)
    assert shape(tagged, n=3) == shape(tp.loop_pipeline, n=1)


def test_step_options_and_the_steps_make_a_new_version():
    plain = shape(tp.words_pipeline)
    assert shape(tp.words_pipeline.with_options(steps={"shout": {"retry": {"max_retries": 2}}})) != plain
    assert shape(tp.words_pipeline.with_options(steps={"shout": {"timeout": 30}})) != plain
    assert shape(tp.words_pipeline.with_options(queue="gpu")) != plain
    assert shape(tp.nested_pipeline) != plain
