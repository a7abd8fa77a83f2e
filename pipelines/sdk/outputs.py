"""Reading a step's outputs from its return annotation.

`-> int` is one output named "output"; `-> Annotated[int, "total"]` names it;
`-> tuple[Annotated[int, "a"], Annotated[str, "b"]]` declares two outputs; `-> None`
declares none. A tuple without per-element names gets `output_0`, `output_1`, ...
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any

from pipelines.sdk.artifact_config import ArtifactConfig
from pipelines.sdk.exceptions import PipelineDefinitionError

DEFAULT_OUTPUT_NAME = "output"


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: Any  # a class, a typing alias, or typing.Any when the step does not say
    config: ArtifactConfig | None = None


def _split_annotated(annotation: Any) -> tuple[Any, str | None, ArtifactConfig | None]:
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        configs = [extra for extra in extras if isinstance(extra, ArtifactConfig)]
        names = [extra for extra in extras if isinstance(extra, str)] + [c.name for c in configs if c.name]
        if len(names) > 1 or len(configs) > 1:
            raise PipelineDefinitionError(f"{annotation} gives more than one output name or ArtifactConfig.")
        return base, (names[0] if names else None), (configs[0] if configs else None)
    return annotation, None, None


def _is_fixed_tuple(annotation: Any) -> bool:
    if typing.get_origin(annotation) is not tuple:
        return False
    args = typing.get_args(annotation)
    return bool(args) and Ellipsis not in args and args != ((),)


def parse_outputs(func: Any) -> list[OutputSpec]:
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:  # an unresolvable forward reference
        raise PipelineDefinitionError(f"Cannot read the type hints of {func.__qualname__}: {exc}") from exc
    if "return" not in hints and inspect.signature(func).return_annotation is inspect.Signature.empty:
        return [OutputSpec(DEFAULT_OUTPUT_NAME, Any)]
    annotation = hints.get("return", Any)
    if annotation is None or annotation is type(None):
        return []

    base, name, config = _split_annotated(annotation)
    if name is not None or config is not None or not _is_fixed_tuple(base):
        return [OutputSpec(name or DEFAULT_OUTPUT_NAME, base, config)]

    outputs = []
    for index, element in enumerate(typing.get_args(base)):
        element_type, element_name, element_config = _split_annotated(element)
        outputs.append(OutputSpec(element_name or f"{DEFAULT_OUTPUT_NAME}_{index}", element_type, element_config))
    names = [output.name for output in outputs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PipelineDefinitionError(
            f"{func.__qualname__} declares the output name(s) {', '.join(duplicates)} more "
            "than once; give each output its own name."
        )
    return outputs


def type_path(annotation: Any) -> str | None:
    """`module.QualName` of an output's concrete class, None when unknown."""
    origin = typing.get_origin(annotation) or annotation
    # Since Python 3.11 `Any` is a class, and `int | None` has the class UnionType as
    # its origin: neither names the type of the value.
    if origin is Any or origin is types.UnionType:
        return None
    if not isinstance(origin, type) or origin is object:
        return None
    return f"{origin.__module__}.{origin.__qualname__}"
