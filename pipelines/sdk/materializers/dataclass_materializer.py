"""Dataclasses as JSON (`data.json`) when JSON gives them back exactly, else pickled.

Fields are written with `dataclasses.asdict`; loading passes them back to the class,
rebuilding fields annotated as dataclasses themselves. A dataclass holding what JSON
would change (a tuple, a datetime, a set) is pickled, as the built-in containers are.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.materializers.builtin import JSON_FILENAME, _load_pickle_in, _save_pickled
from pipelines.sdk.materializers.pickle_materializer import PICKLE_FILENAME
from pipelines.sdk.materializers.registry import DATACLASS_KEY


class DataclassMaterializer(BaseMaterializer):
    # DATACLASS_KEY is what every dataclass matches when nothing on its MRO is
    # registered; registering another materializer for it replaces this one.
    ASSOCIATED_TYPES = (DATACLASS_KEY,)

    def save(self, data: Any) -> None:
        fields = dataclasses.asdict(data)
        text = json.dumps(fields, allow_nan=True, ensure_ascii=True)
        try:
            same = _rebuild(type(data), json.loads(text)) == data
        except Exception:  # a class whose __init__ or __eq__ disagrees: keep every bit
            same = False
        if not same:
            _save_pickled(self, data)
            return
        with self.artifact_store.open(self._file(JSON_FILENAME), "wb") as handle:
            handle.write(text.encode("ascii"))
        self._remove_if_exists(PICKLE_FILENAME)

    def load(self, data_type: type) -> Any:
        path = self._file(JSON_FILENAME)
        if not self.artifact_store.exists(path):
            return _load_pickle_in(self, expected=(JSON_FILENAME, PICKLE_FILENAME))
        with self.artifact_store.open(path, "rb") as handle:
            return _rebuild(data_type, json.loads(handle.read()))

    def save_visualizations(self, data: Any) -> dict[str, str]:
        path = self._file(JSON_FILENAME)
        return {path: "json"} if self.artifact_store.exists(path) else {}

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"fields": [field.name for field in dataclasses.fields(data)]}


def _rebuild(cls: type, values: dict[str, Any]) -> Any:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation naming something not importable here
        hints = {}
    kwargs, later = {}, {}
    for field in dataclasses.fields(cls):
        if field.name not in values:
            continue
        value = values[field.name]
        hint = hints.get(field.name)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = _rebuild(hint, value)
        (kwargs if field.init else later)[field.name] = value
    instance = cls(**kwargs)
    for name, value in later.items():  # init=False fields hold what was saved, not a default
        object.__setattr__(instance, name, value)
    return instance
