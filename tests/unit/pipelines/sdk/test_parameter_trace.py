"""The spec records the pipeline's parameters and whether its DAG depends on them."""

from __future__ import annotations

import pytest

from pipelines.sdk.parameter_trace import ParameterUsed, Placeholder
from pipelines.sdk.spec import (
    ParameterError,
    SpecError,
    bind_parameters,
    resolve_parameters,
    spec_shape_hash,
    validate_spec,
)
from tests.unit import trigger_pipelines as tp


def test_a_static_pipeline_records_which_step_arguments_take_which_parameter():
    spec = tp.words_pipeline.compile(word="yo")
    assert spec["dag"] == "static"
    assert spec["parameter_bindings"] == {
        "make_text": {"word": "word", "times": "times"},
        "shout": {"suffix": "suffix"},
    }
    # The real values, not placeholders, are in the steps.
    assert spec["steps"][0]["parameters"] == {"word": "yo", "times": 2}


def test_the_schema_has_each_parameter_with_its_json_type_and_default():
    spec = tp.words_pipeline.compile()
    assert spec["parameter_schema"] == [
        {"name": "word", "type": "string", "nullable": False, "default": "hi"},
        {"name": "times", "type": "integer", "nullable": False, "default": 2},
        {"name": "suffix", "type": "string", "nullable": False, "default": "!"},
        {"name": "ratio", "type": "number", "nullable": True, "default": None},
    ]


def test_a_parameter_without_default_or_annotation_is_recorded_as_such():
    spec = tp.required_pipeline.compile(count=1)
    assert spec["parameter_schema"] == [
        {"name": "count", "type": "integer", "nullable": False},
        {"name": "tags", "type": "array", "nullable": True, "default": None},
        {"name": "config", "type": "object", "nullable": False, "default": {}},
    ]


@pytest.mark.parametrize(
    "pipeline",
    [tp.loop_pipeline, tp.branch_pipeline, tp.derived_pipeline, tp.optional_pipeline, tp.typed_pipeline],
    ids=["loop", "condition", "derived value", "is not None", "isinstance"],
)
def test_a_body_that_uses_a_parameter_makes_the_dag_dynamic(pipeline):
    spec = pipeline.compile()
    assert spec["dag"] == "dynamic"
    assert "parameter_bindings" not in spec


def test_a_parameter_not_passed_to_any_step_leaves_the_dag_static_with_no_binding():
    spec = tp.nested_pipeline.compile()
    assert spec["dag"] == "static"
    assert spec["parameter_bindings"] == {"first": {"word": "word"}}


@pytest.mark.parametrize(
    "use",
    [bool, len, list, str, int, lambda p: p + "x", lambda p: p == "a", lambda p: f"{p}", lambda p: p.upper(), hash],
)
def test_a_placeholder_refuses_every_use_of_its_value(use):
    with pytest.raises(ParameterUsed):
        use(Placeholder("n"))


def test_resolving_parameters_fills_defaults_and_names_the_bad_one():
    spec = tp.words_pipeline.compile()
    assert resolve_parameters(spec, {"times": 3}) == {"word": "hi", "times": 3, "suffix": "!", "ratio": None}
    assert resolve_parameters(spec, {"ratio": 2})["ratio"] == 2  # an integer is a number
    with pytest.raises(ParameterError) as wrong_type:
        resolve_parameters(spec, {"times": "three"})
    assert wrong_type.value.field == "times"
    assert "takes an integer, got a string" in str(wrong_type.value)
    with pytest.raises(ParameterError) as boolean:
        resolve_parameters(spec, {"times": True})
    assert "got a boolean" in str(boolean.value)
    with pytest.raises(ParameterError) as unknown:
        resolve_parameters(spec, {"tiems": 3})
    assert unknown.value.field == "tiems"
    assert "its parameters are: word, times, suffix, ratio" in str(unknown.value)
    with pytest.raises(ParameterError) as null:
        resolve_parameters(spec, {"word": None})
    assert null.value.field == "word"


def test_a_parameter_without_default_must_be_given():
    spec = tp.required_pipeline.compile(count=1)
    with pytest.raises(ParameterError) as missing:
        resolve_parameters(spec, {})
    assert missing.value.field == "count"
    assert "has no default" in str(missing.value)


def test_binding_puts_new_values_where_the_function_passed_its_parameters():
    spec = tp.words_pipeline.compile()
    bound = bind_parameters(spec, resolve_parameters(spec, {"word": "yo", "suffix": "?"}))
    steps = {step["name"]: step for step in bound["steps"]}
    assert steps["make_text"]["parameters"] == {"word": "yo", "times": 2}
    assert steps["shout"]["parameters"] == {"suffix": "?"}
    assert bound["parameters"]["word"] == "yo"
    assert spec["steps"][0]["parameters"]["word"] == "hi"  # the stored spec is untouched
    validate_spec(bound)


def test_a_dynamic_spec_is_not_bound():
    spec = tp.loop_pipeline.compile()
    with pytest.raises(SpecError, match="dynamic"):
        bind_parameters(spec, {"n": 5})


def test_the_version_hash_ignores_parameter_values_but_not_the_shape():
    assert spec_shape_hash(tp.words_pipeline.compile(word="a")) == spec_shape_hash(tp.words_pipeline.compile(word="b"))
    assert spec_shape_hash(tp.loop_pipeline.compile(n=1)) == spec_shape_hash(tp.loop_pipeline.compile(n=4))
    assert spec_shape_hash(tp.words_pipeline.compile()) != spec_shape_hash(tp.nested_pipeline.compile())


def test_old_specs_without_a_schema_stay_valid_and_say_how_to_start_them_without_code():
    spec = tp.words_pipeline.compile()
    for key in ("parameter_schema", "dag", "parameter_bindings"):
        del spec[key]
    validate_spec(spec)
    with pytest.raises(ParameterError, match="run it once more from its code"):
        resolve_parameters(spec, {})


def test_a_binding_to_an_unknown_parameter_is_refused():
    spec = tp.words_pipeline.compile()
    spec["parameter_bindings"]["shout"] = {"suffix": "nope"}
    with pytest.raises(SpecError, match="'nope', which is not a parameter"):
        validate_spec(spec)


def test_a_spec_edited_by_hand_keeps_the_bindings_that_still_apply():
    spec = tp.words_pipeline.compile()
    spec["steps"] = [step for step in spec["steps"] if step["name"] == "make_text"]
    del spec["steps"][0]["parameters"]["times"]
    assert validate_spec(spec)["parameter_bindings"] == {"make_text": {"word": "word"}}


def test_a_body_that_reads_the_pipeline_context_stays_static():
    spec = tp.context_pipeline.compile(word="yo")
    assert spec["dag"] == "static"
    assert spec["parameter_bindings"] == {"make_text": {"word": "word"}}
