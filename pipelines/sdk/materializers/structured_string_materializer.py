"""HTMLString, MarkdownString and CSVString as the file their content is, visualized as itself."""

from __future__ import annotations

from typing import Any

from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.types import CSVString, HTMLString, MarkdownString

# type -> (file name, visualization type)
_FILES: dict[type, tuple[str, str]] = {
    HTMLString: ("output.html", "html"),
    MarkdownString: ("output.md", "markdown"),
    CSVString: ("output.csv", "csv"),
}


class StructuredStringMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (HTMLString, MarkdownString, CSVString)
    ASSOCIATED_ARTIFACT_TYPE = "data_analysis"

    def load(self, data_type: type) -> Any:
        kind = _kind_of(data_type)
        with self.artifact_store.open(self._file(_FILES[kind][0]), "rb") as handle:
            return kind(handle.read().decode("utf-8", "surrogatepass"))

    def save(self, data: Any) -> None:
        with self.artifact_store.open(self._file(_FILES[_kind_of(type(data))][0]), "wb") as handle:
            # surrogatepass: any str the step made can be written and read back.
            handle.write(str(data).encode("utf-8", "surrogatepass"))

    def save_visualizations(self, data: Any) -> dict[str, str]:
        name, visualization = _FILES[_kind_of(type(data))]
        return {self._file(name): visualization}

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"length": len(data)}


def _kind_of(data_type: type) -> type:
    for kind in _FILES:
        if isinstance(data_type, type) and issubclass(data_type, kind):
            return kind
    raise TypeError(f"StructuredStringMaterializer saves HTMLString, MarkdownString and CSVString, not {data_type!r}.")
