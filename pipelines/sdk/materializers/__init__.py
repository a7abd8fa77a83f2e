"""Materializers turn step outputs into files in the artifact store and back.

Importing this package registers the built-in materializers. numpy, pandas and
pydantic ones are registered by type name only: none of those libraries (nor their
materializer module) is imported until a value of theirs is saved or loaded, which keeps
`from pipelines import step` fast.
"""

from __future__ import annotations

from typing import Any

from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.materializers.builtin import (
    BuiltInContainerMaterializer,
    BuiltInMaterializer,
    BytesMaterializer,
)
from pipelines.sdk.materializers.dataclass_materializer import DataclassMaterializer
from pipelines.sdk.materializers.path_materializer import PathMaterializer
from pipelines.sdk.materializers.pickle_materializer import PickleMaterializer
from pipelines.sdk.materializers.registry import (
    MaterializerRegistry,
    materializer_registry,
    register_materializer,
)
from pipelines.sdk.materializers.structured_string_materializer import StructuredStringMaterializer

# Kept in step with the classes' ASSOCIATED_TYPES (a test checks), which cannot be
# read here without importing numpy and pandas.
LAZY_MATERIALIZERS: dict[str, tuple[str, ...]] = {
    "pipelines.sdk.materializers.numpy_materializer:NumpyMaterializer": ("numpy.ndarray",),
    "pipelines.sdk.materializers.pandas_materializer:PandasMaterializer": (
        "pandas.DataFrame",
        "pandas.Series",
        "pandas.core.frame.DataFrame",
        "pandas.core.series.Series",
    ),
    "pipelines.sdk.materializers.pydantic_materializer:PydanticMaterializer": ("pydantic.main.BaseModel",),
}

for _source, _type_names in LAZY_MATERIALIZERS.items():
    materializer_registry.register_lazy(_type_names, _source)

_LAZY_CLASSES = {
    "NumpyMaterializer": "pipelines.sdk.materializers.numpy_materializer",
    "PandasMaterializer": "pipelines.sdk.materializers.pandas_materializer",
    "PydanticMaterializer": "pipelines.sdk.materializers.pydantic_materializer",
}


def __getattr__(name: str) -> Any:
    # `from pipelines.sdk.materializers import PandasMaterializer` works, but only
    # that import pays for pandas.
    if name in _LAZY_CLASSES:
        import importlib

        return getattr(importlib.import_module(_LAZY_CLASSES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BaseMaterializer",
    "BuiltInContainerMaterializer",
    "BuiltInMaterializer",
    "BytesMaterializer",
    "DataclassMaterializer",
    "MaterializerRegistry",
    "NumpyMaterializer",
    "PandasMaterializer",
    "PathMaterializer",
    "PickleMaterializer",
    "PydanticMaterializer",
    "StructuredStringMaterializer",
    "materializer_registry",
    "register_materializer",
]
