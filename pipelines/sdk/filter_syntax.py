"""ZenML's filter syntax for the Client's `list_*` methods, translated to the API's filters.

ZenML writes `created="gt:2024-01-01"`, `name="startswith:train"` and `sort_by="desc:created"`;
names take the string operators on the server (passed through); the API has
`created_after` / `created_before` (inclusive) and DRF's `ordering=-created_at`. Only
what the API can answer exactly is translated; anything else is a ValueError naming
what works, rather than a filter silently ignored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# ZenML's operators, for the error message: which ones a field here accepts is below.
OPERATORS = ("equals", "notequals", "contains", "startswith", "endswith", "gt", "gte", "lt", "lte", "in", "oneof")
# The string operators the API itself applies (pipelines.api.filters.StringFilter).
STRING_OPERATORS = ("equals", "notequals", "contains", "startswith", "endswith", "oneof", "in")
# ZenML's field names that differ from the API's.
SORT_FIELDS = {"created": "created_at", "updated": "created_at"}
# The API's smallest time step: `gt`/`lt` become the inclusive bounds one step away.
_TICK = timedelta(microseconds=1)
# Fields whose API filter takes ZenML's string operators itself: passed through.
_STRING_FIELDS = {
    "runs/": {"name"},
    "steps/": {"name"},
    "artifacts/": {"name"},
    "models/": {"name"},
    "artifact-versions/": {"version"},
}
# Lists whose API has created_after / created_before.
_CREATED_LISTS = {"runs/", "artifact-versions/"}


def translate_sort(sort_by: str) -> str:
    """`desc:created` -> `-created_at`, `asc:name` -> `name`; the API's own form passes."""
    direction, colon, name = sort_by.partition(":")
    if not colon:
        return sort_by
    if direction not in ("asc", "desc"):
        raise ValueError(f"sort_by {sort_by!r}: the order is 'asc:' or 'desc:' (e.g. 'desc:created').")
    name = SORT_FIELDS.get(name, name)
    return f"-{name}" if direction == "desc" else name


def translate_filters(path: str, filters: dict[str, Any]) -> dict[str, Any]:
    """The API's query parameters for `filters`, some of which may use ZenML's syntax."""
    params: dict[str, Any] = {}
    for key, value in filters.items():
        operator, colon, operand = value.partition(":") if isinstance(value, str) else ("", "", "")
        if not colon or operator not in OPERATORS:
            if key == "created" and path in _CREATED_LISTS:
                params["created_after"] = params["created_before"] = value  # ZenML's plain value: equals
                continue
            params[key] = value
            continue
        params.update(_translate(path, key, operator, operand))
    return params


def _translate(path: str, key: str, operator: str, operand: str) -> dict[str, Any]:
    if key == "created" and path in _CREATED_LISTS:
        bounds = {
            "gte": {"created_after": timedelta(0)},
            "gt": {"created_after": _TICK},
            "lte": {"created_before": timedelta(0)},
            "lt": {"created_before": -_TICK},
            "equals": {"created_after": timedelta(0), "created_before": timedelta(0)},
        }
        if operator in bounds:
            when = _datetime(key, operand)
            return {name: (when + shift).isoformat() for name, shift in bounds[operator].items()}
        valid = ", ".join(bounds)
    elif key in _STRING_FIELDS.get(path, ()):
        if operator in STRING_OPERATORS:
            return {key: f"{operator}:{operand}"}
        valid = ", ".join(STRING_OPERATORS)
    else:
        if operator == "equals":
            return {key: operand}
        valid = "equals"
    raise ValueError(
        f"Filter {key}={operator}:{operand!r} is not supported here; {key} takes the operators {valid} "
        f"(ZenML's operators: {', '.join(OPERATORS)})."
    )


def _datetime(key: str, value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"Filter {key}: {value!r} is not an ISO date or datetime (e.g. 2024-01-01).") from None
