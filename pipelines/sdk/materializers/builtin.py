"""Materializers for Python's own types.

Values are stored as JSON whenever JSON gives them back exactly, so they can be read
by people and other tools. Anything JSON would change (an IntEnum member, an
OrderedDict, a dict with int keys, a list holding a datetime, a cycle) is pickled
instead, so nothing is lost; `load` reads whichever file is there.

The JSON is Python's flavour: NaN and ±Infinity are written as `NaN`/`Infinity`
(`allow_nan=True`), which `json.loads` reads back but strict JSON parsers reject.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.materializers.pickle_materializer import (
    PICKLE_FILENAME,
    load_pickle,
    save_pickle,
)

JSON_FILENAME = "data.json"
BYTES_FILENAME = "data.bin"

_SCALAR_TYPES: tuple[type, ...] = (type(None), bool, int, float, str)
_CONTAINER_KINDS: dict[type, str] = {
    dict: "dict",
    list: "list",
    tuple: "tuple",
    set: "set",
    frozenset: "frozenset",
}
_KIND_TYPES: dict[str, type] = {kind: cls for cls, kind in _CONTAINER_KINDS.items()}


class BuiltInMaterializer(BaseMaterializer):
    """None, bool, int, float and str as `data.json`; bool stays bool, float stays float."""

    ASSOCIATED_TYPES = _SCALAR_TYPES

    def load(self, data_type: type) -> Any:
        return _load_json_or_pickle(self)

    def save(self, data: Any) -> None:
        # Exact types only: for an int or str subclass (IntEnum, StrEnum) JSON would
        # hand back the plain base value.
        if type(data) in _SCALAR_TYPES:
            _save_json(self, data)
        else:
            _save_pickled(self, data)

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            return {"length": len(data)}
        return {}


class BytesMaterializer(BaseMaterializer):
    """bytes as the raw `data.bin`."""

    ASSOCIATED_TYPES = (bytes,)

    def load(self, data_type: type) -> Any:
        raw = self._file(BYTES_FILENAME)
        if self.artifact_store.exists(raw):
            with self.artifact_store.open(raw, "rb") as handle:
                return handle.read()
        return _load_pickle_in(self, expected=(BYTES_FILENAME, PICKLE_FILENAME))

    def save(self, data: Any) -> None:
        if type(data) is bytes:
            with self.artifact_store.open(self._file(BYTES_FILENAME), "wb") as handle:
                handle.write(data)
            self._remove_if_exists(PICKLE_FILENAME)
        else:
            save_pickle(self._file(PICKLE_FILENAME), data)
            self._remove_if_exists(BYTES_FILENAME)

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"length": len(data)}


class BuiltInContainerMaterializer(BaseMaterializer):
    """dict, list, tuple, set and frozenset as `data.json` when JSON round-trips them.

    The file holds `{"kind": "tuple", "value": [...]}` so the outer container comes
    back as the type it was; set members are sorted so equal sets give equal files.
    Containers nested inside come back as lists and dicts (a tuple inside a list
    loads as a list), as with any JSON. Everything else is pickled.
    """

    ASSOCIATED_TYPES = (dict, list, tuple, set, frozenset)

    def load(self, data_type: type) -> Any:
        json_path = self._file(JSON_FILENAME)
        if self.artifact_store.exists(json_path):
            payload = _read_json(self, json_path)
            return _KIND_TYPES[payload["kind"]](payload["value"])
        return _load_pickle_in(self, expected=(JSON_FILENAME, PICKLE_FILENAME))

    def save(self, data: Any) -> None:
        kind = _CONTAINER_KINDS.get(type(data))
        if kind is not None and _is_json_representable(data):
            _save_json(self, {"kind": kind, "value": _json_value(data)})
        else:
            _save_pickled(self, data)

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"length": len(data)}


def _is_json_representable(container: Any) -> bool:
    if isinstance(container, set | frozenset):
        # Members must come back hashable, so no lists (which is what tuples become).
        return all(type(member) in _SCALAR_TYPES for member in container)
    try:
        return _is_plain_json(container, active=set())
    except RecursionError:
        return False


def _is_plain_json(value: Any, *, active: set[int]) -> bool:
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return True
    if kind not in (list, tuple, dict):
        return False
    if id(value) in active:
        return False  # a cycle: JSON cannot express it, pickle can
    active.add(id(value))
    try:
        if kind is dict:
            return all(type(key) is str and _is_plain_json(item, active=active) for key, item in value.items())
        return all(_is_plain_json(item, active=active) for item in value)
    finally:
        active.discard(id(value))


def _json_value(container: Any) -> Any:
    if isinstance(container, set | frozenset):
        # Set iteration order follows str hashes, which differ per process; sorting
        # keeps the file (and so the artifact checksum) stable.
        return sorted(container, key=json.dumps)
    if isinstance(container, tuple):
        return list(container)
    return container


def _save_json(materializer: BaseMaterializer, value: Any) -> None:
    # ensure_ascii keeps lone surrogates in str values writable (escaped) and readable.
    text = json.dumps(value, allow_nan=True, ensure_ascii=True)
    with materializer.artifact_store.open(materializer._file(JSON_FILENAME), "wb") as handle:
        handle.write(text.encode("ascii"))
    materializer._remove_if_exists(PICKLE_FILENAME)


def _save_pickled(materializer: BaseMaterializer, value: Any) -> None:
    save_pickle(materializer._file(PICKLE_FILENAME), value)
    materializer._remove_if_exists(JSON_FILENAME)


def _read_json(materializer: BaseMaterializer, path: str) -> Any:
    with materializer.artifact_store.open(path, "rb") as handle:
        return json.loads(handle.read())


def _load_json_or_pickle(materializer: BaseMaterializer) -> Any:
    json_path = materializer._file(JSON_FILENAME)
    if materializer.artifact_store.exists(json_path):
        return _read_json(materializer, json_path)
    return _load_pickle_in(materializer, expected=(JSON_FILENAME, PICKLE_FILENAME))


def _load_pickle_in(materializer: BaseMaterializer, *, expected: tuple[str, ...]) -> Any:
    pickle_path = materializer._file(PICKLE_FILENAME)
    if not materializer.artifact_store.exists(pickle_path):
        raise FileNotFoundError(f"No saved value in {materializer.uri!r}: expected one of {', '.join(expected)}.")
    return load_pickle(pickle_path)
