"""`validate_spec` on hand-written specs, as the server sees them from any client."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from pipelines.sdk.spec import DEFAULT_RUN_NAME_TEMPLATE, SPEC_VERSION, SpecError, upstream_of, validate_spec


def _step(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "source": f"module:{name}", **fields}


def _output(name: str = "output", **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def _input(step: str, output: str = "output") -> dict[str, str]:
    return {"step": step, "output": output}


def _spec(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"pipeline": "p", "steps": list(steps) or [_step("a")], **fields}


def _refused(spec: Any) -> str:
    with pytest.raises(SpecError) as excinfo:
        validate_spec(spec)
    return str(excinfo.value)


# --- what a minimal spec becomes ----------------------------------------------
def test_a_minimal_spec_gets_its_defaults_filled_in():
    spec = validate_spec({"pipeline": "p", "steps": [{"name": "a", "source": "module:a"}]})

    assert spec == {
        "version": SPEC_VERSION,
        "pipeline": "p",
        "run_name_template": DEFAULT_RUN_NAME_TEMPLATE,
        "parameters": {},
        "enable_cache": True,
        "steps": [
            {
                "name": "a",
                "source": "module:a",
                "code_hash": "",
                "parameters": {},
                "inputs": {},
                "after": [],
                "outputs": [],
                "enable_cache": True,
                "retry": None,
                "extra": {},
            }
        ],
    }


def test_steps_inherit_the_pipeline_enable_cache_unless_they_set_their_own():
    spec = validate_spec(_spec(_step("a"), _step("b", enable_cache=True), enable_cache=False))

    assert spec["enable_cache"] is False
    assert [step["enable_cache"] for step in spec["steps"]] == [False, True]


def test_output_declarations_get_a_type_and_materializer_of_none_by_default():
    spec = validate_spec(_spec(_step("a", outputs=[_output("x")])))

    assert spec["steps"][0]["outputs"] == [{"name": "x", "type": None, "materializer": None}]


def test_validating_a_valid_spec_twice_changes_nothing():
    once = validate_spec(_spec(_step("a", outputs=[_output()]), _step("b", inputs={"x": _input("a")})))

    assert validate_spec(once) == once


def test_a_well_formed_diamond_is_accepted():
    spec = validate_spec(
        _spec(
            _step("a", outputs=[_output()]),
            _step("b", inputs={"x": _input("a")}, outputs=[_output()]),
            _step("c", inputs={"x": _input("a")}, outputs=[_output()]),
            _step("d", inputs={"x": _input("b"), "y": _input("c")}, after=["a"]),
        )
    )

    assert upstream_of(spec["steps"][3]) == {"a", "b", "c"}


# --- the graph -------------------------------------------------------------------
def test_a_cycle_through_after_is_refused_naming_the_cycle():
    message = _refused(_spec(_step("a", after=["b"]), _step("b", after=["a"])))

    assert "cycle" in message
    assert re.search(r"\((a -> b -> a|b -> a -> b)\)", message)


def test_a_cycle_through_inputs_is_refused_naming_the_cycle():
    message = _refused(
        _spec(
            _step("a", inputs={"x": _input("c")}, outputs=[_output()]),
            _step("b", inputs={"x": _input("a")}, outputs=[_output()]),
            _step("c", inputs={"x": _input("b")}, outputs=[_output()]),
        )
    )

    assert "cycle" in message
    for name in ("a", "b", "c"):
        assert name in message.split("(", 1)[1]


def test_a_step_running_after_itself_is_a_cycle():
    assert "cycle (a -> a)" in _refused(_spec(_step("a", after=["a"])))


def test_an_input_from_a_missing_step_is_refused():
    message = _refused(_spec(_step("a", inputs={"x": _input("ghost")})))

    assert "'x'" in message
    assert "'ghost'" in message
    assert "not a step of this pipeline" in message


def test_an_input_from_a_missing_output_is_refused_listing_the_outputs():
    message = _refused(
        _spec(_step("a", outputs=[_output("one"), _output("two")]), _step("b", inputs={"x": _input("a", "three")}))
    )

    assert "'three'" in message
    assert "one, two" in message


def test_an_input_from_a_step_without_outputs_is_refused():
    message = _refused(_spec(_step("a"), _step("b", inputs={"x": _input("a")})))

    assert "whose outputs are: none" in message


def test_after_naming_a_missing_step_is_refused():
    message = _refused(_spec(_step("a", after=["ghost"])))

    assert "'ghost'" in message
    assert "not a step of this pipeline" in message


def test_duplicate_step_names_are_refused():
    assert "share a name" in _refused(_spec(_step("a"), _step("a")))


def test_duplicate_output_names_are_refused():
    assert "duplicate output name(s) x" in _refused(_spec(_step("a", outputs=[_output("x"), _output("x")])))


def test_an_input_and_a_parameter_with_the_same_name_are_refused():
    message = _refused(
        _spec(_step("a", outputs=[_output()]), _step("b", inputs={"x": _input("a")}, parameters={"x": 1}))
    )

    assert "'b'" in message
    assert "x both as input and parameter" in message


# --- shapes ------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [None, [], "spec", 1])
def test_a_spec_that_is_not_an_object_is_refused(spec):
    assert "JSON object" in _refused(spec)


@pytest.mark.parametrize("steps", [[], None, "a", {}])
def test_a_spec_without_a_list_of_steps_is_refused(steps):
    assert "at least one step" in _refused({"pipeline": "p", "steps": steps})


def test_a_spec_without_steps_is_refused():
    assert "at least one step" in _refused({"pipeline": "p"})


@pytest.mark.parametrize("name", ["../x", "", "a/b", "a b", "1abc", "x\n", "é", "a" * 201, None, 3])
def test_a_bad_step_name_is_refused(name):
    message = _refused(_spec({"name": name, "source": "module:f"}))

    assert "steps[0].name" in message
    assert repr(name)[:40] in message


@pytest.mark.parametrize("name", ["a", "_a", "a.b-c_1", "A" * 200])
def test_a_good_step_name_is_accepted(name):
    assert validate_spec(_spec({"name": name, "source": "module:f"}))["steps"][0]["name"] == name


@pytest.mark.parametrize("name", ["../x", "", "p\n", None])
def test_a_bad_pipeline_name_is_refused(name):
    assert "pipeline must be 1-200 letters" in _refused({"pipeline": name, "steps": [_step("a")]})


@pytest.mark.parametrize("name", ["../x", "", "x\n"])
def test_a_bad_output_name_is_refused(name):
    assert "output name must be 1-200 letters" in _refused(_spec(_step("a", outputs=[_output(name)])))


@pytest.mark.parametrize(
    "source",
    ["module", "module:", ":func", "module:func:extra", "a b:c", "module:func\n", "../m:f", "", None, 1],
)
def test_a_bad_source_is_refused(source):
    assert "source must be 'module:qualname'" in _refused(_spec({"name": "a", "source": source}))


@pytest.mark.parametrize("source", ["m:f", "package.module:Class.method", "_m:_f"])
def test_a_good_source_is_accepted(source):
    assert validate_spec(_spec({"name": "a", "source": source}))["steps"][0]["source"] == source


@pytest.mark.parametrize("materializer", ["not a source", "module", 3, "m:f\n"])
def test_a_bad_materializer_source_is_refused(materializer):
    message = _refused(_spec(_step("a", outputs=[_output("x", materializer=materializer)])))

    assert "invalid materializer" in message


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_a_wrong_version_is_refused(version):
    message = _refused(_spec(version=version))

    assert f"got {version!r}" in message
    assert "upgrade" in message


@pytest.mark.parametrize(
    "template",
    ["{foo}", "{0}", "{}", "{", "}", "{pipeline.x}", "{pipeline[x]}", "{pipeline.upper}", "{pipeline:{date.x}}"],
)
def test_a_run_name_template_with_bad_placeholders_is_refused(template):
    message = _refused(_spec(run_name_template=template))

    assert "may only use the placeholders {pipeline}, {date}, {time}" in message


@pytest.mark.parametrize("template", ["{pipeline}-{date}-{time}", "nightly", "{pipeline}_{time}", "{{literal}}"])
def test_a_run_name_template_with_known_placeholders_is_accepted(template):
    assert validate_spec(_spec(run_name_template=template))["run_name_template"] == template


def test_a_run_name_template_that_is_not_a_string_is_refused():
    assert "run_name_template must be a string" in _refused(_spec(run_name_template=["{pipeline}"]))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1, math.nan]])
def test_nan_or_infinity_in_pipeline_parameters_is_refused(value):
    assert "NaN or infinity" in _refused(_spec(parameters={"x": value}))


def test_nan_in_step_parameters_is_refused():
    assert "NaN or infinity" in _refused(_spec(_step("a", parameters={"x": math.nan})))


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("parameters", [], "parameters must be an object"),
        ("inputs", [], "inputs must be an object"),
        ("inputs", {"x": "a"}, "input 'x' must be"),
        ("inputs", {"x": {"step": "a"}}, "input 'x' must be"),
        ("after", "b", "after must be a list of step names"),
        ("after", [1], "after must be a list of step names"),
        ("outputs", {}, "outputs must be a list"),
        ("code_hash", 1, "code_hash must be a string"),
    ],
)
def test_a_malformed_step_field_is_refused(field, value, complaint):
    assert complaint in _refused(_spec(_step("a", **{field: value})))


def test_pipeline_parameters_that_are_not_an_object_are_refused():
    assert "parameters must be an object" in _refused(_spec(parameters=[1]))


def test_a_step_that_is_not_an_object_is_refused():
    assert "steps[1] must be an object" in _refused(_spec(_step("a"), "b"))
