"""Run metadata: key-value facts attached to artifact versions, step runs and runs.

Values are JSON, or one of the typed wrappers below, whose type is kept so that a
`Uri` logged is a `Uri` read back. `run_metadata["accuracy"].value` reads the latest
value of a key on any object that has metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What metadata attaches to, by the name the API, the Client, the services and the
# RunMetadata foreign keys all use. The one list of them: a new kind starts here, and
# tests/unit/test_naming_rules.py fails until every place that handles kinds has it.
METADATA_TARGETS = ("artifact_version", "step_run", "pipeline_run", "model_version")

MAX_KEY_LENGTH = 255
# One value, serialized. Bigger data belongs in an artifact, not in metadata.
MAX_VALUE_BYTES = 64 * 1024


class MetadataError(ValueError):
    """A metadata key or value cannot be stored; the message says why."""


class Uri(str):
    """A URI (a link to data, a dashboard, a model registry entry)."""


class Path(str):
    """A filesystem path."""


class DType(str):
    """A data type name, such as numpy's `float32`."""


class StorageSize(int):
    """A size in bytes."""


_TYPED = {cls.__name__: cls for cls in (Uri, Path, DType, StorageSize)}
_PLAIN = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict", type(None): "null"}


def type_of(value: Any) -> str:
    for cls in _TYPED.values():
        if isinstance(value, cls):
            return cls.__name__
    for cls, name in _PLAIN.items():
        if type(value) is cls:
            return name
    if isinstance(value, tuple):
        return "list"
    raise MetadataError(
        f"A metadata value must be JSON (str, int, float, bool, None, lists and dicts of them) or "
        f"Uri, Path, DType, StorageSize; got a {type(value).__name__}."
    )


def encode(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Validate metadata and turn it into [{"key", "value", "type"}] entries."""
    if not isinstance(metadata, Mapping):
        raise MetadataError(f"Metadata must be a dict of key to value, got a {type(metadata).__name__}.")
    entries = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not key.strip():
            raise MetadataError(f"Metadata keys must be non-empty strings, got {key!r}.")
        if len(key) > MAX_KEY_LENGTH:
            raise MetadataError(f"The metadata key {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters.")
        kind = type_of(value)
        try:
            encoded = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise MetadataError(f"The value of metadata key {key!r} is not JSON ({exc}).") from None
        if len(encoded.encode()) > MAX_VALUE_BYTES:
            raise MetadataError(
                f"The value of metadata key {key!r} is {len(encoded.encode())} bytes; the limit is "
                f"{MAX_VALUE_BYTES}. Save large data as an artifact instead."
            )
        entries.append({"key": key, "value": json.loads(encoded), "type": kind})
    return entries


def decode(value: Any, kind: str) -> Any:
    cls = _TYPED.get(kind)
    return cls(value) if cls is not None else value


@dataclass(frozen=True)
class MetadataEntry:
    key: str
    value: Any
    type: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MetadataEntry:
        return cls(key=data["key"], value=decode(data["value"], data["type"]), type=data["type"])


def entries_from_api(data: list[Mapping[str, Any]] | None) -> dict[str, MetadataEntry]:
    return {entry["key"]: MetadataEntry.from_api(entry) for entry in data or []}
