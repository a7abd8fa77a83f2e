"""Telling a static DAG from a dynamic one, and which step arguments carry which
pipeline parameter.

The pipeline function is traced a second time with a placeholder for each of its
parameters. A placeholder may only be handed to a step as an argument: any other use
(`if n:`, `range(n)`, `n + 1`, `n == 3`, `f"{n}"`, `n.upper()`, ...) raises. If that
trace succeeds and calls the same steps as the real one, the steps do not depend on
the values, and a run with other values is the stored spec with the bound step
arguments replaced. Otherwise the DAG is dynamic: a new run is compiled again from
the code, with the new values.

What a placeholder cannot refuse: `n is None`, `isinstance(n, int)`, `type(n)`
(identity and type are not intercepted). The body's source is read for them: a
parameter used so makes the DAG dynamic. Beyond that (a parameter renamed first,
`m = n; if m is None:`), a body that branches this way gets a static trace of the
placeholder's branch; the check that the real trace took the same branch catches the
submitted values, not others.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import textwrap
import types
import typing
from collections.abc import Callable
from typing import Any, NoReturn

from pipelines.sdk.spec import ParameterDecl
from pipelines.sdk.tracing import Invocation, tracing

# Characters no real value holds, so a step argument that merely *contains* a
# placeholder's text (joined into a string, say) is recognised as derived from it.
_MARK = "\u2063pipelines-parameter:"


class ParameterUsed(Exception):
    """The pipeline body used a parameter's value, not just passed it on."""


def _refuse(self: Placeholder, *args: Any, **kwargs: Any) -> NoReturn:
    raise ParameterUsed(object.__getattribute__(self, "_name"))


class Placeholder(str):
    """Stands in for a pipeline parameter during the second trace.

    A `str` so that the step-call machinery, which checks that arguments are JSON,
    lets it through unchanged (json encodes a str subclass from its characters and
    calls none of its methods).
    """

    _name: str

    def __new__(cls, name: str) -> Placeholder:
        placeholder = super().__new__(cls, f"{_MARK}{name}\u2063")
        object.__setattr__(placeholder, "_name", name)
        return placeholder

    def __getattribute__(self, attribute: str) -> Any:
        # `isinstance` reads __class__; everything else is a use of the value.
        if attribute in ("__class__", "_name"):
            return object.__getattribute__(self, attribute)
        raise ParameterUsed(object.__getattribute__(self, "_name"))

    def __repr__(self) -> str:  # error messages may show it
        return f"<parameter {object.__getattribute__(self, '_name')}>"

    __bool__ = __len__ = __iter__ = __contains__ = __getitem__ = _refuse
    __add__ = __radd__ = __mul__ = __rmul__ = __mod__ = __rmod__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _refuse  # type: ignore[assignment]
    __str__ = __format__ = __int__ = __float__ = __index__ = __reversed__ = _refuse
    __sub__ = __rsub__ = __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _refuse
    __neg__ = __pos__ = __abs__ = __and__ = __or__ = __rand__ = __ror__ = __xor__ = _refuse
    __call__ = __round__ = __bytes__ = _refuse


_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}


def _json_type(annotation: Any) -> tuple[str | None, bool]:
    """(JSON type or None for any, nullable) of a parameter's annotation."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None, True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        kinds = {_json_type(member)[0] for member in members}
        if len(kinds) == 1:
            return kinds.pop(), nullable
        if kinds == {"integer", "number"}:
            return "number", nullable
        return None, True
    if annotation is type(None):
        return None, True
    return _TYPES.get(origin or annotation), False


def parameter_schema(func: Callable[..., Any], signature: inspect.Signature) -> list[ParameterDecl]:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an annotation that does not resolve: treat it as untyped
        hints = {}
    schema: list[ParameterDecl] = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        json_type, nullable = _json_type(hints.get(name, parameter.annotation))
        decl: ParameterDecl = {"name": name, "type": json_type, "nullable": nullable}
        if parameter.default is not parameter.empty:
            try:
                json.dumps(parameter.default, allow_nan=False)
            except (TypeError, ValueError):
                pass  # not JSON: a trigger must give a value
            else:
                decl["default"] = parameter.default
        schema.append(decl)
    return schema


def _derives_from_a_parameter(value: Any) -> bool:
    return _MARK in json.dumps(value, ensure_ascii=False)


_TYPE_PROBES = {"isinstance", "issubclass", "type", "id", "callable"}


def _probes_identity_or_type(func: Callable[..., Any], names: set[str]) -> bool:
    """Whether the body tests a parameter with `is`/`is not` or a type probe."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return False  # no source to read: the trace decides alone

    def is_parameter(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in names

    def probes(node: ast.AST) -> bool:
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Is | ast.IsNot) for op in node.ops):
            return any(is_parameter(side) for side in [node.left, *node.comparators])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _TYPE_PROBES:
            return any(is_parameter(argument) for argument in node.args)
        return False

    return any(probes(node) for node in ast.walk(tree))


def trace_bindings(
    func: Callable[..., Any],
    signature: inspect.Signature,
    real: dict[str, Invocation],
    pipeline_name: str,
    *,
    context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> dict[str, dict[str, str]] | None:
    """The step arguments bound to pipeline parameters if the DAG is static, else None.

    `context` makes what the real trace had around the body (the pipeline context)."""
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
        return None
    if _probes_identity_or_type(func, set(signature.parameters)):
        return None
    placeholders = {name: Placeholder(name) for name in signature.parameters}
    try:
        # Its prints were seen in the real trace already.
        with contextlib.redirect_stdout(io.StringIO()), tracing(pipeline_name) as trace, context():
            func(**placeholders)
    except Exception:
        return None
    if _shape(trace.invocations) != _shape(real):
        return None
    bindings: dict[str, dict[str, str]] = {}
    for invocation in trace.invocations.values():
        for argument, value in invocation.parameters.items():
            if isinstance(value, Placeholder):
                bindings.setdefault(invocation.id, {})[argument] = object.__getattribute__(value, "_name")
            elif _derives_from_a_parameter(value):
                return None
    return bindings


def _shape(invocations: dict[str, Invocation]) -> list[Any]:
    return [
        (
            inv.id,
            inv.step.source,
            sorted(inv.parameters),
            sorted((name, h.invocation_id, h.output_name) for name, h in inv.inputs.items()),
            inv.after,
        )
        for inv in invocations.values()
    ]
