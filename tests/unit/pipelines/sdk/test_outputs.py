"""Reading a step's outputs from its return annotation."""

from __future__ import annotations

import typing
from typing import Annotated, Any, Optional

import pytest

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.outputs import OutputSpec, parse_outputs, type_path


def _outputs_for(annotation: Any) -> list[OutputSpec]:
    """The outputs of a function whose return annotation is the object itself, not a string."""

    def func():
        return None

    func.__annotations__ = {"return": annotation}
    return parse_outputs(func)


def _names(outputs: list[OutputSpec]) -> list[str]:
    return [output.name for output in outputs]


def test_a_function_without_a_return_annotation_has_one_output_named_output():
    def func():
        return 1

    assert parse_outputs(func) == [OutputSpec("output", Any)]


def test_a_function_returning_none_has_no_outputs():
    assert _outputs_for(None) == []


def test_a_plain_type_is_one_output_named_output():
    assert _outputs_for(int) == [OutputSpec("output", int)]


def test_annotated_names_the_single_output():
    assert _outputs_for(Annotated[int, "x"]) == [OutputSpec("x", int)]


def test_annotated_metadata_that_is_not_a_string_does_not_name_the_output():
    assert _outputs_for(Annotated[int, 42]) == [OutputSpec("output", int)]


def test_annotated_with_two_names_is_refused():
    with pytest.raises(PipelineDefinitionError, match="more than one output name"):
        _outputs_for(Annotated[int, "a", "b"])


def test_a_tuple_of_annotated_types_declares_one_output_per_element():
    outputs = _outputs_for(tuple[Annotated[int, "a"], Annotated[str, "b"]])

    assert outputs == [OutputSpec("a", int), OutputSpec("b", str)]


def test_unnamed_tuple_elements_are_numbered():
    assert _outputs_for(tuple[int, str]) == [OutputSpec("output_0", int), OutputSpec("output_1", str)]


def test_named_and_unnamed_tuple_elements_can_be_mixed():
    assert _names(_outputs_for(tuple[Annotated[int, "a"], str])) == ["a", "output_1"]


def test_typing_tuple_declares_several_outputs_like_the_builtin():
    assert _names(_outputs_for(typing.Tuple[int, str])) == ["output_0", "output_1"]  # noqa: UP006


def test_a_variable_length_tuple_is_a_single_output():
    assert _outputs_for(tuple[int, ...]) == [OutputSpec("output", tuple[int, ...])]


def test_a_bare_tuple_is_a_single_output():
    assert _outputs_for(tuple) == [OutputSpec("output", tuple)]


def test_an_empty_tuple_type_is_a_single_output():
    assert _names(_outputs_for(tuple[()])) == ["output"]


def test_an_annotated_tuple_is_a_single_named_output():
    assert _outputs_for(Annotated[tuple[int, int], "pair"]) == [OutputSpec("pair", tuple[int, int])]


def test_duplicate_output_names_are_refused_with_a_clear_message():
    with pytest.raises(PipelineDefinitionError) as excinfo:
        _outputs_for(tuple[Annotated[int, "same"], Annotated[str, "same"]])

    message = str(excinfo.value)
    assert "same" in message
    assert "more than once" in message
    assert "give each output its own name" in message


def test_a_name_that_collides_with_a_numbered_output_is_refused():
    with pytest.raises(PipelineDefinitionError, match="output_1"):
        _outputs_for(tuple[Annotated[int, "output_1"], str])


# --- string annotations (this module uses `from __future__ import annotations`) ---
def test_string_annotations_from_future_import_are_resolved():
    def func() -> Annotated[int, "x"]:
        return 1

    assert isinstance(func.__annotations__["return"], str)
    assert parse_outputs(func) == [OutputSpec("x", int)]


def test_string_annotations_resolve_a_tuple_of_named_outputs():
    def func() -> tuple[Annotated[int, "a"], Annotated[str, "b"]]:
        return 1, "b"

    assert parse_outputs(func) == [OutputSpec("a", int), OutputSpec("b", str)]


def test_a_string_none_annotation_declares_no_outputs():
    def func() -> None:
        pass

    assert parse_outputs(func) == []


def test_a_forward_reference_to_a_class_defined_later_is_resolved():
    def func() -> Annotated[DefinedLater, "later"]:
        return DefinedLater()

    assert parse_outputs(func) == [OutputSpec("later", DefinedLater)]


def test_an_unresolvable_forward_reference_is_refused_naming_the_function():
    def func() -> NoSuchType:  # noqa: F821
        pass

    with pytest.raises(PipelineDefinitionError, match="func"):
        parse_outputs(func)


class DefinedLater:
    pass


# --- type paths ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, "builtins.int"),
        (list[int], "builtins.list"),
        (DefinedLater, "tests.unit.pipelines.sdk.test_outputs.DefinedLater"),
        (Any, None),
        (object, None),
        (Optional[int], None),  # noqa: UP045
        (int | None, None),
        (int | str, None),
    ],
)
def test_type_path_names_the_concrete_class_or_none(annotation, expected):
    assert type_path(annotation) == expected
