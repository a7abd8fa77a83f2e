"""`from pipelines.materializers import BuiltInMaterializer`, as `zenml.materializers`.

The materializers live in `pipelines.sdk.materializers`; this module only re-exports
them. Names not listed here (the numpy, pandas and pydantic materializers, which
import their library) are looked up there on first use, so importing this module
stays cheap.
"""

from __future__ import annotations

from typing import Any

from pipelines.sdk import materializers as _materializers
from pipelines.sdk.materializers import (
    BaseMaterializer,
    BuiltInContainerMaterializer,
    BuiltInMaterializer,
    BytesMaterializer,
    DataclassMaterializer,
    PathMaterializer,
    PickleMaterializer,
    StructuredStringMaterializer,
)

__all__ = [
    "BaseMaterializer",
    "BuiltInContainerMaterializer",
    "BuiltInMaterializer",
    "BytesMaterializer",
    "DataclassMaterializer",
    "PathMaterializer",
    "PickleMaterializer",
    "StructuredStringMaterializer",
]


def __getattr__(name: str) -> Any:
    return getattr(_materializers, name)
