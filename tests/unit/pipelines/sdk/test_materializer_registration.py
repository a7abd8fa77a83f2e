"""Defining a materializer registers it, as in ZenML; the docs' custom materializer works."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipelines.io import fileio
from pipelines.sdk.materializers import BaseMaterializer, materializer_registry, register_materializer
from pipelines.sdk.materializers import registry as registry_module
from pipelines.sdk.materializers.registry import MaterializerRegistry


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> MaterializerRegistry:
    isolated = materializer_registry.copy()
    monkeypatch.setattr(registry_module, "materializer_registry", isolated)
    return isolated


class MyObj:
    def __init__(self, name: str):
        self.name = name


def test_a_materializer_registers_itself_for_its_types_when_defined(registry: MaterializerRegistry) -> None:
    # The docs' custom materializer (docs/book/how-to/data-artifact-management/handle-data-artifacts/
    # handle-custom-data-types.md), zenml -> pipelines.
    class MyMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (MyObj,)
        ASSOCIATED_ARTIFACT_TYPE = "data"

        def load(self, data_type: type[MyObj]) -> MyObj:
            """Read from artifact store."""
            with fileio.open(os.path.join(self.uri, "data.txt"), "r") as f:
                name = f.read()
            return MyObj(name=name)

        def save(self, my_obj: MyObj) -> None:
            """Write to artifact store."""
            with fileio.open(os.path.join(self.uri, "data.txt"), "w") as f:
                f.write(my_obj.name)

    assert registry.materializer_for(MyObj) is MyMaterializer
    assert materializer_registry.lookup(MyObj) is None  # the global one is untouched


def test_the_docs_custom_materializer_saves_and_loads_through_fileio(
    registry: MaterializerRegistry, tmp_path: Path
) -> None:
    class MyMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (MyObj,)

        def load(self, data_type: type[MyObj]) -> MyObj:
            with fileio.open(os.path.join(self.uri, "data.txt"), "r") as f:
                name = f.read()
            return MyObj(name=name)

        def save(self, my_obj: MyObj) -> None:
            with fileio.open(os.path.join(self.uri, "data.txt"), "w") as f:
                f.write(my_obj.name)

    uri = str(tmp_path / "artifact")
    fileio.makedirs(uri)
    registry.materializer_for_value(MyObj("jane"))(uri).save(MyObj("jane"))

    assert MyMaterializer(uri).load(MyObj).name == "jane"


def test_an_abstract_intermediate_class_registers_nothing(registry: MaterializerRegistry) -> None:
    before = registry.copy()

    class JsonFileMaterializer(BaseMaterializer):
        FILENAME = "data.json"

        def save(self, data: Any) -> None:
            with fileio.open(os.path.join(self.uri, self.FILENAME), "w") as f:
                json.dump(data, f)

    class Point(dict):
        pass

    class PointMaterializer(JsonFileMaterializer):
        ASSOCIATED_TYPES = (Point,)

        def load(self, data_type: type) -> Point:
            with fileio.open(os.path.join(self.uri, self.FILENAME), "r") as f:
                return Point(json.load(f))

    assert registry._by_type.keys() - before._by_type.keys() == {Point}
    assert registry.lookup(Point) is PointMaterializer


def test_a_subclass_that_keeps_its_parents_types_does_not_take_them_over(registry: MaterializerRegistry) -> None:
    builtin = registry.lookup(dict)

    class QuieterDictMaterializer(builtin):  # type: ignore[misc,valid-type]
        pass

    assert registry.lookup(dict) is builtin
    assert QuieterDictMaterializer.ASSOCIATED_TYPES == builtin.ASSOCIATED_TYPES


def test_skip_registration_keeps_a_materializer_out_of_the_registry(registry: MaterializerRegistry) -> None:
    class OnlyForOneStep(BaseMaterializer):
        ASSOCIATED_TYPES = (str,)
        SKIP_REGISTRATION = True

        def load(self, data_type: type) -> Any:
            return ""

        def save(self, data: Any) -> None:
            pass

    assert registry.lookup(str) is not OnlyForOneStep


def test_register_materializer_still_works_as_a_decorator(registry: MaterializerRegistry) -> None:
    class Other:
        pass

    @register_materializer
    class OtherMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (Other,)

        def load(self, data_type: type) -> Any:
            return Other()

        def save(self, data: Any) -> None:
            pass

    assert registry.lookup(Other) is OtherMaterializer


def test_importing_the_numpy_materializer_does_not_override_a_users_array_materializer(
    registry: MaterializerRegistry,
) -> None:
    class MyArrayMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = ("numpy.ndarray",)

        def load(self, data_type: type) -> Any:
            return None

        def save(self, data: Any) -> None:
            pass

    import numpy as np

    from pipelines.sdk.materializers import NumpyMaterializer  # noqa: F401 (the import is the point)

    assert registry.lookup(np.ndarray) is MyArrayMaterializer
