"""Compiling `@pipeline` functions into the spec the server runs.

Pipelines are defined at module level here because a pipeline records its source
path, which refuses functions defined inside other functions.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated

import pytest

from pipelines import Pipeline, PipelineDefinitionError, Step, pipeline, step
from pipelines.sdk.materializers import BuiltInMaterializer, PickleMaterializer
from pipelines.sdk.spec import DEFAULT_RUN_NAME_TEMPLATE, SPEC_VERSION, validate_spec
from pipelines.sdk.tracing import active_trace
from tests.unit.sample_steps import (
    anything,
    cached,
    consume_int,
    consume_str,
    load,
    make_opaque,
    numbers_pipeline,
    pickled_b,
    pickled_pair,
    side_effect,
    split,
    takes_id,
    total,
    uncached,
    untyped,
    with_a_name,
    with_empty_parens,
)

REPO_ROOT = Path(__file__).resolve().parents[4]
BUILTIN = "pipelines.sdk.materializers.builtin:BuiltInMaterializer"
CONTAINER = "pipelines.sdk.materializers.builtin:BuiltInContainerMaterializer"
PICKLE = "pipelines.sdk.materializers.pickle_materializer:PickleMaterializer"


def _steps(spec) -> dict:
    return {step_spec["name"]: step_spec for step_spec in spec["steps"]}


# --- the issue's example -------------------------------------------------------
def test_the_issue_example_compiles_to_two_steps(monkeypatch):
    monkeypatch.setenv("PIPELINES_SOURCE_ROOT", str(REPO_ROOT))

    spec = numbers_pipeline.compile(scale=3)

    assert spec["version"] == SPEC_VERSION
    assert spec["pipeline"] == "numbers_pipeline"
    assert spec["pipeline_source"] == "tests.unit.sample_steps:numbers_pipeline"
    assert spec["run_name_template"] == DEFAULT_RUN_NAME_TEMPLATE
    assert spec["source_root"] == str(REPO_ROOT)
    assert spec["enable_cache"] is True
    assert [step_spec["name"] for step_spec in spec["steps"]] == ["load", "total"]


def test_the_issue_example_records_the_producer_step():
    load_spec = _steps(numbers_pipeline.compile(scale=3))["load"]

    assert load_spec["source"] == "tests.unit.sample_steps:load"
    assert load_spec["inputs"] == {}
    assert load_spec["parameters"] == {}
    assert load_spec["after"] == []
    assert load_spec["enable_cache"] is True
    assert load_spec["outputs"] == [{"name": "numbers", "type": "builtins.list", "materializer": CONTAINER}]
    assert re.fullmatch(r"[0-9a-f]{64}", load_spec["code_hash"])


def test_the_issue_example_wires_the_output_into_the_consumer_step():
    total_spec = _steps(numbers_pipeline.compile(scale=3))["total"]

    assert total_spec["source"] == "tests.unit.sample_steps:total"
    assert total_spec["inputs"] == {"numbers": {"step": "load", "output": "numbers"}}
    assert total_spec["parameters"] == {"scale": 3}
    assert total_spec["after"] == []
    assert total_spec["outputs"] == [{"name": "output", "type": "builtins.int", "materializer": BUILTIN}]


def test_pipeline_parameters_are_recorded():
    assert numbers_pipeline.compile(scale=3)["parameters"] == {"scale": 3}
    assert numbers_pipeline.compile(5)["parameters"] == {"scale": 5}


def test_pipeline_parameter_defaults_are_recorded_and_passed_on():
    spec = numbers_pipeline.compile()

    assert spec["parameters"] == {"scale": 2}
    assert _steps(spec)["total"]["parameters"] == {"scale": 2}


def test_the_compiled_spec_is_valid_and_json():
    spec = numbers_pipeline.compile(scale=3)

    assert validate_spec(spec) == spec
    assert json.loads(json.dumps(spec, allow_nan=False)) == spec


# --- invocation ids ------------------------------------------------------------
@pipeline
def total_twice():
    numbers = load()
    total(numbers)
    total(numbers, scale=2)


def test_the_same_step_used_twice_gets_numbered_ids():
    spec = total_twice.compile()

    assert [step_spec["name"] for step_spec in spec["steps"]] == ["load", "total", "total_2"]
    steps = _steps(spec)
    assert steps["total"]["source"] == steps["total_2"]["source"] == "tests.unit.sample_steps:total"
    assert steps["total"]["parameters"] == {}
    assert steps["total_2"]["parameters"] == {"scale": 2}
    assert steps["total_2"]["inputs"] == {"numbers": {"step": "load", "output": "numbers"}}


@pipeline
def explicit_ids():
    total(load(id="source"), id="sum")


def test_id_overrides_the_invocation_id():
    steps = _steps(explicit_ids.compile())

    assert list(steps) == ["source", "sum"]
    assert steps["sum"]["inputs"] == {"numbers": {"step": "source", "output": "numbers"}}


@pipeline
def clashing_ids():
    load(id="same")
    load(id="same")


def test_two_invocations_with_the_same_explicit_id_are_refused():
    with pytest.raises(PipelineDefinitionError, match="'same'"):
        clashing_ids.compile()


@pipeline
def invalid_id():
    load(id="../escape")


def test_an_id_that_is_not_a_valid_step_name_is_refused_as_a_definition_error():
    with pytest.raises(PipelineDefinitionError, match=re.escape("'../escape'")):
        invalid_id.compile()


@pipeline
def step_taking_an_id():
    takes_id(id=7)


def test_a_step_whose_function_takes_id_gets_it_as_a_parameter():
    steps = _steps(step_taking_an_id.compile())

    assert steps["takes_id"]["parameters"] == {"id": 7}


# --- after= --------------------------------------------------------------------
@pipeline
def after_an_output_handle():
    numbers = load()
    side_effect(after=numbers)


@pipeline
def after_an_invocation_handle():
    done = side_effect()
    load(after=done)


@pipeline
def after_a_string_id():
    side_effect()
    load(after="side_effect")


@pipeline
def after_a_list():
    done = side_effect()
    numbers = load()
    total(numbers, after=[done, "load"])


def test_after_takes_an_output_handle():
    assert _steps(after_an_output_handle.compile())["side_effect"]["after"] == ["load"]


def test_after_takes_the_invocation_handle_of_a_step_without_outputs():
    assert _steps(after_an_invocation_handle.compile())["load"]["after"] == ["side_effect"]


def test_after_takes_a_string_id():
    assert _steps(after_a_string_id.compile())["load"]["after"] == ["side_effect"]


def test_after_takes_a_list_of_handles_and_ids():
    assert _steps(after_a_list.compile())["total"]["after"] == ["side_effect", "load"]


@pipeline
def after_an_unknown_step():
    side_effect()
    load(after="nope")


def test_after_naming_an_unknown_step_is_refused_listing_the_known_ones():
    with pytest.raises(PipelineDefinitionError) as excinfo:
        after_an_unknown_step.compile()

    message = str(excinfo.value)
    assert "'nope'" in message
    assert "side_effect" in message


@pipeline
def after_itself():
    load(id="me", after="me")


def test_a_step_cannot_run_after_itself():
    with pytest.raises(PipelineDefinitionError, match="'me'"):
        after_itself.compile()


# --- inputs --------------------------------------------------------------------
@pipeline
def multi_output():
    count, label = split()
    consume_int(count)
    consume_str(label)


def test_a_multi_output_step_returns_handles_that_can_be_unpacked_and_wired_separately():
    spec = multi_output.compile()
    steps = _steps(spec)

    assert [output["name"] for output in steps["split"]["outputs"]] == ["count", "label"]
    assert steps["consume_int"]["inputs"] == {"value": {"step": "split", "output": "count"}}
    assert steps["consume_str"]["inputs"] == {"text": {"step": "split", "output": "label"}}
    assert steps["consume_int"]["outputs"] == []


@pipeline
def unpacking_a_single_output():
    _first, _second = load()


def test_unpacking_a_single_output_is_refused():
    with pytest.raises(PipelineDefinitionError, match="single artifact"):
        unpacking_a_single_output.compile()


@pipeline
def no_output_as_input():
    consume_int(side_effect())


def test_a_step_without_outputs_cannot_be_an_input():
    with pytest.raises(PipelineDefinitionError) as excinfo:
        no_output_as_input.compile()

    message = str(excinfo.value)
    assert "'side_effect' has no outputs" in message
    assert "after=" in message


@pipeline
def missing_input():
    total()


def test_a_missing_input_is_refused_naming_it():
    with pytest.raises(PipelineDefinitionError, match=r"missing the input.*numbers"):
        missing_input.compile()


@pipeline
def unknown_keyword():
    total(load(), bogus=1)


def test_an_unknown_keyword_is_refused_listing_the_accepted_parameters():
    with pytest.raises(PipelineDefinitionError) as excinfo:
        unknown_keyword.compile()

    message = str(excinfo.value)
    assert "bogus" in message
    assert "it accepts: numbers, scale" in message


@pipeline
def handle_in_a_list():
    consume_int([load()])


@pipeline
def handle_in_a_dict():
    consume_int({"numbers": load()})


@pytest.mark.parametrize("definition", [handle_in_a_list, handle_in_a_dict])
def test_a_handle_nested_in_a_container_is_refused(definition):
    with pytest.raises(PipelineDefinitionError, match=r"'value'.*inside a container"):
        definition.compile()


# --- parameters ----------------------------------------------------------------
def test_an_unknown_pipeline_parameter_is_refused_listing_the_parameters():
    with pytest.raises(PipelineDefinitionError) as excinfo:
        numbers_pipeline.compile(bogus=1)

    message = str(excinfo.value)
    assert "bogus" in message
    assert "parameters are: scale" in message


@pytest.mark.parametrize("value", [object(), {1, 2}, math.nan, b"bytes"])
def test_a_pipeline_parameter_that_is_not_json_is_refused_naming_it(value):
    with pytest.raises(PipelineDefinitionError, match=r"'scale'.*not JSON"):
        numbers_pipeline.compile(scale=value)


@pipeline
def object_parameter():
    total(load(), scale=object())


@pipeline
def set_parameter():
    total(load(), scale={1, 2})


@pipeline
def nan_parameter():
    total(load(), scale=math.inf)


@pytest.mark.parametrize("definition", [object_parameter, set_parameter, nan_parameter])
def test_a_step_parameter_that_is_not_json_is_refused_naming_it(definition):
    with pytest.raises(PipelineDefinitionError, match=r"'scale' of step 'total'.*not JSON"):
        definition.compile()


@pipeline
def json_parameters():
    untyped(value={"nested": [1, 2.5, None, True, "s"]})


def test_json_step_parameters_are_recorded_as_given():
    steps = _steps(json_parameters.compile())

    assert steps["untyped"]["parameters"] == {"value": {"nested": [1, 2.5, None, True, "s"]}}


# --- whole-pipeline refusals ---------------------------------------------------
@pipeline
def calls_no_steps():
    pass


def test_a_pipeline_calling_no_steps_is_refused():
    with pytest.raises(PipelineDefinitionError, match="calls no steps"):
        calls_no_steps.compile()


@pipeline
def calls_a_pipeline():
    load()
    numbers_pipeline()


def test_calling_a_pipeline_inside_another_pipeline_is_refused():
    with pytest.raises(PipelineDefinitionError, match="inside another pipeline"):
        calls_a_pipeline.compile()


def test_a_failed_compile_leaves_no_trace_behind():
    with pytest.raises(PipelineDefinitionError):
        missing_input.compile()

    assert active_trace() is None
    assert load() == [1, 2, 3]


def test_a_pipeline_defined_inside_a_function_is_refused_with_a_hint():
    @pipeline
    def local_pipeline():
        load()

    with pytest.raises(PipelineDefinitionError, match="Move it to module level"):
        local_pipeline.compile()


def test_a_run_name_template_with_an_unknown_placeholder_is_refused_as_a_definition_error():
    with pytest.raises(PipelineDefinitionError, match=re.escape("{foo}")):
        numbers_pipeline.with_options(run_name="{foo}").compile()


def test_with_options_sets_the_run_name_template_without_touching_the_original():
    spec = numbers_pipeline.with_options(run_name="nightly-{date}").compile()

    assert spec["run_name_template"] == "nightly-{date}"
    assert numbers_pipeline.compile()["run_name_template"] == DEFAULT_RUN_NAME_TEMPLATE


# --- caching -------------------------------------------------------------------
@pipeline(enable_cache=False)
def uncached_pipeline():
    cached()
    uncached()
    load()


@pipeline(enable_cache=True)
def cached_pipeline():
    cached()
    uncached()
    load()


def test_a_step_enable_cache_setting_wins_over_the_pipeline_setting():
    spec = uncached_pipeline.compile()
    assert spec["enable_cache"] is False
    assert {name: s["enable_cache"] for name, s in _steps(spec).items()} == {
        "cached": True,
        "uncached": False,
        "load": False,
    }

    spec = cached_pipeline.compile()
    assert {name: s["enable_cache"] for name, s in _steps(spec).items()} == {
        "cached": True,
        "uncached": False,
        "load": True,
    }


def test_with_options_changes_the_pipeline_cache_setting():
    steps = _steps(cached_pipeline.with_options(enable_cache=False).compile())

    assert steps["load"]["enable_cache"] is False
    assert steps["cached"]["enable_cache"] is True


# --- materializers -------------------------------------------------------------
@pipeline
def custom_materializers():
    pickled_pair()
    pickled_b()


def test_output_materializers_as_a_class_applies_to_every_output():
    outputs = _steps(custom_materializers.compile())["pickled_pair"]["outputs"]

    assert outputs == [
        {"name": "a", "type": "builtins.int", "materializer": PICKLE},
        {"name": "b", "type": "builtins.str", "materializer": PICKLE},
    ]


def test_output_materializers_as_a_dict_applies_to_the_named_outputs():
    outputs = _steps(custom_materializers.compile())["pickled_b"]["outputs"]

    assert outputs == [
        {"name": "a", "type": "builtins.int", "materializer": BUILTIN},
        {"name": "b", "type": "builtins.str", "materializer": PICKLE},
    ]


def test_output_materializers_naming_an_unknown_output_is_refused_listing_the_outputs():
    def two() -> tuple[Annotated[int, "a"], Annotated[str, "b"]]:
        return 1, "b"

    with pytest.raises(PipelineDefinitionError) as excinfo:
        step(output_materializers={"c": PickleMaterializer})(two)

    message = str(excinfo.value)
    assert "'c'" in message
    assert "a, b" in message


@pytest.mark.parametrize(
    "materializers",
    [int, {"output": int}, {"output": BuiltInMaterializer(".")}, "pickle", [PickleMaterializer]],
    ids=["a-class", "a-dict-of-a-class", "a-dict-of-an-instance", "a-string", "a-list"],
)
def test_an_output_materializer_that_is_not_a_materializer_class_is_refused(materializers):
    def one() -> int:
        return 1

    with pytest.raises(PipelineDefinitionError, match="BaseMaterializer"):
        step(output_materializers=materializers)(one)


@pipeline
def untyped_and_any():
    untyped()
    anything()


def test_an_output_without_a_type_leaves_the_materializer_to_the_value():
    steps = _steps(untyped_and_any.compile())

    assert steps["untyped"]["outputs"] == [{"name": "output", "type": None, "materializer": None}]
    assert steps["anything"]["outputs"] == [{"name": "output", "type": None, "materializer": None}]


@pipeline
def opaque_output():
    make_opaque()


def test_an_output_type_without_a_materializer_falls_back_to_pickle_with_a_warning():
    with pytest.warns(UserWarning, match="falling back to PickleMaterializer"):
        spec = opaque_output.compile()

    assert _steps(spec)["make_opaque"]["outputs"] == [
        {"name": "output", "type": "tests.unit.sample_steps.Opaque", "materializer": PICKLE}
    ]


# --- decorators ------------------------------------------------------------------
def test_calling_a_step_outside_a_pipeline_just_runs_the_function():
    assert load() == [1, 2, 3]
    assert total([1, 2, 3], scale=2) == 12
    assert side_effect() is None


def test_step_works_with_and_without_parentheses():
    assert isinstance(load, Step)
    assert isinstance(with_empty_parens, Step)
    assert with_empty_parens.name == "with_empty_parens"
    assert with_empty_parens() == 1


@pipeline
def uses_decorated_variants():
    with_empty_parens()
    with_a_name()


def test_a_named_step_uses_its_name_as_the_id_and_keeps_its_source():
    steps = _steps(uses_decorated_variants.compile())

    assert list(steps) == ["with_empty_parens", "renamed_step"]
    assert steps["renamed_step"]["source"] == "tests.unit.sample_steps:with_a_name"


@pipeline(name="renamed_pipeline")
def pipeline_with_a_name():
    load()


def test_pipeline_works_with_and_without_parentheses():
    assert isinstance(numbers_pipeline, Pipeline)
    assert isinstance(pipeline_with_a_name, Pipeline)

    spec = pipeline_with_a_name.compile()

    assert spec["pipeline"] == "renamed_pipeline"
    assert spec["pipeline_source"] == "tests.unit.pipelines.sdk.test_compile:pipeline_with_a_name"


def test_step_refuses_something_that_is_not_a_function():
    with pytest.raises(PipelineDefinitionError, match="needs a function"):
        step(42)
