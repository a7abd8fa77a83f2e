"""Pydantic models as JSON (`data.json`, `model_dump_json`), read back with `model_validate_json`.

Registered by type name in the package's __init__, so pydantic is imported only when
a model is saved or loaded, and only where it is installed.
"""

from __future__ import annotations

from typing import Any

from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.materializers.builtin import JSON_FILENAME


class PydanticMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = ("pydantic.main.BaseModel",)
    SKIP_REGISTRATION = True  # lazily registered, see the module doc

    def save(self, data: Any) -> None:
        with self.artifact_store.open(self._file(JSON_FILENAME), "wb") as handle:
            handle.write(data.model_dump_json().encode("utf-8"))

    def load(self, data_type: type) -> Any:
        with self.artifact_store.open(self._file(JSON_FILENAME), "rb") as handle:
            return data_type.model_validate_json(handle.read())

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"fields": list(type(data).model_fields)}

    def save_visualizations(self, data: Any) -> dict[str, str]:
        return {self._file(JSON_FILENAME): "json"}
