from __future__ import annotations

import collections
import enum
import json
import logging
import math
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from pipelines.sdk import materializers
from pipelines.sdk.materializers import (
    BaseMaterializer,
    BuiltInContainerMaterializer,
    BuiltInMaterializer,
    BytesMaterializer,
    MaterializerRegistry,
    PickleMaterializer,
    materializer_registry,
    pandas_materializer,
    register_materializer,
)
from pipelines.sdk.materializers import registry as registry_module
from pipelines.sdk.materializers.numpy_materializer import NumpyMaterializer
from pipelines.sdk.materializers.pandas_materializer import PandasMaterializer

REPO_ROOT = Path(__file__).resolve().parents[4]


def _round_trip(materializer_cls: type[BaseMaterializer], value: Any, uri: Path) -> Any:
    materializer_cls(str(uri)).save(value)
    return materializer_cls(str(uri)).load(type(value))


def _files(uri: Path) -> list[str]:
    return sorted(path.name for path in uri.iterdir())


class Color(enum.IntEnum):
    RED = 1


class Point(typing.NamedTuple):
    x: int
    y: int


class Unregistered:
    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unregistered) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


class Animal:
    pass


class Dog(Animal):
    pass


class Puppy(Dog):
    pass


class _Stub(BaseMaterializer):
    def load(self, data_type: type) -> Any:
        return None

    def save(self, data: Any) -> None:
        pass


class AnimalMaterializer(_Stub):
    ASSOCIATED_TYPES = (Animal,)
    SKIP_REGISTRATION = True  # the tests register it where they need it


class DogMaterializer(_Stub):
    ASSOCIATED_TYPES = (Dog,)
    SKIP_REGISTRATION = True


@pytest.fixture
def uri(tmp_path: Path) -> Path:
    # Not created up front: materializers create their folder themselves.
    return tmp_path / "runs" / "1" / "steps" / "1" / "attempt-1" / "0"


@pytest.fixture
def registry() -> MaterializerRegistry:
    return materializer_registry.copy()


@pytest.fixture(autouse=True)
def _classes_defined_in_a_test_register_in_a_throwaway_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # Defining a materializer registers it; one for int or dict defined here must not
    # change how the rest of the session saves ints and dicts.
    monkeypatch.setattr(registry_module, "materializer_registry", materializer_registry.copy())


# The base class


def test_the_base_materializer_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError):
        BaseMaterializer("/tmp/x")  # type: ignore[abstract]


def test_a_subclass_without_load_and_save_cannot_be_instantiated() -> None:
    class OnlyLoad(BaseMaterializer):
        def load(self, data_type: type) -> Any:
            return None

    with pytest.raises(TypeError, match="save"):
        OnlyLoad("/tmp/x")  # type: ignore[abstract]


def test_the_base_defaults_are_no_metadata_and_no_visualizations() -> None:
    stub = _Stub("/tmp/x")

    assert stub.uri == "/tmp/x"
    assert stub.extract_metadata(1) == {}
    assert stub.save_visualizations(1) == {}
    assert _Stub.ASSOCIATED_ARTIFACT_TYPE == "data"


# Built-in scalars


@pytest.mark.parametrize("value", [None, True, False, 0, -5, 2**100, 1.5, -0.0, 1.0, "", "héllo ✓", "lone \ud800"])
def test_builtin_scalars_round_trip_with_their_exact_type(value: Any, uri: Path) -> None:
    loaded = _round_trip(BuiltInMaterializer, value, uri)

    assert loaded == value
    assert type(loaded) is type(value)
    assert _files(uri) == ["data.json"]


def test_a_whole_float_stays_a_float(uri: Path) -> None:
    assert type(_round_trip(BuiltInMaterializer, 3.0, uri)) is float


def test_nan_and_infinity_round_trip(tmp_path: Path) -> None:
    assert math.isnan(_round_trip(BuiltInMaterializer, math.nan, tmp_path / "a"))
    assert _round_trip(BuiltInMaterializer, math.inf, tmp_path / "b") == math.inf
    assert _round_trip(BuiltInMaterializer, -math.inf, tmp_path / "c") == -math.inf


def test_scalars_are_stored_as_readable_json(uri: Path) -> None:
    BuiltInMaterializer(str(uri)).save("text")

    assert json.loads((uri / "data.json").read_text()) == "text"


def test_an_int_subclass_is_pickled_so_it_keeps_its_type(uri: Path) -> None:
    loaded = _round_trip(BuiltInMaterializer, Color.RED, uri)

    assert loaded is Color.RED
    assert _files(uri) == ["data.pkl"]


def test_saving_again_replaces_the_file_of_the_other_format(uri: Path) -> None:
    BuiltInMaterializer(str(uri)).save(Color.RED)
    BuiltInMaterializer(str(uri)).save(7)

    assert _files(uri) == ["data.json"]
    assert BuiltInMaterializer(str(uri)).load(int) == 7


def test_string_metadata_is_its_length_and_other_scalars_have_none(uri: Path) -> None:
    materializer = BuiltInMaterializer(str(uri))

    assert materializer.extract_metadata("abc") == {"length": 3}
    assert materializer.extract_metadata(3.5) == {}
    assert materializer.extract_metadata(None) == {}


def test_loading_from_an_empty_folder_names_the_expected_files(uri: Path) -> None:
    uri.mkdir(parents=True)

    with pytest.raises(FileNotFoundError, match=r"data\.json"):
        BuiltInMaterializer(str(uri)).load(int)


# Bytes


def test_bytes_round_trip_as_a_raw_file(uri: Path) -> None:
    value = bytes(range(256))

    assert _round_trip(BytesMaterializer, value, uri) == value
    assert (uri / "data.bin").read_bytes() == value
    assert BytesMaterializer(str(uri)).extract_metadata(value) == {"length": 256}


# Containers


@pytest.mark.parametrize(
    "value",
    [
        [],
        {},
        (),
        set(),
        frozenset(),
        [1, "two", 3.0, None, True],
        {"a": 1, "b": [1, 2, {"c": None}], "d": {"e": "f"}},
        (1, "x", None),
        {1, "x", None, 2.5, False},
        frozenset({"a", "b"}),
    ],
    ids=repr,
)
def test_json_friendly_containers_round_trip_with_their_kind(value: Any, uri: Path) -> None:
    loaded = _round_trip(BuiltInContainerMaterializer, value, uri)

    assert loaded == value
    assert type(loaded) is type(value)
    assert _files(uri) == ["data.json"]


def test_nested_tuples_come_back_as_lists(uri: Path) -> None:
    loaded = _round_trip(BuiltInContainerMaterializer, [(1, 2), {"k": (3,)}], uri)

    assert loaded == [[1, 2], {"k": [3]}]


def test_sets_are_written_in_a_stable_order(tmp_path: Path) -> None:
    BuiltInContainerMaterializer(str(tmp_path / "a")).save({"b", "a", "c", 1})
    BuiltInContainerMaterializer(str(tmp_path / "b")).save({1, "c", "a", "b"})

    first = (tmp_path / "a" / "data.json").read_bytes()
    assert first == (tmp_path / "b" / "data.json").read_bytes()


def test_dict_key_order_is_kept(uri: Path) -> None:
    loaded = _round_trip(BuiltInContainerMaterializer, {"z": 1, "a": 2}, uri)

    assert list(loaded) == ["z", "a"]


@pytest.mark.parametrize(
    "value",
    [
        {1: "int key"},
        {"obj": Unregistered(3)},
        [Color.RED],
        {"tuple in set": {(1, 2)}},
        {(1, 2), (3, 4)},
        collections.OrderedDict(a=1),
        collections.Counter("aab"),
        Point(1, 2),
        [np.float64(1.5)],
    ],
    ids=repr,
)
def test_containers_json_would_change_are_pickled_whole(value: Any, uri: Path) -> None:
    loaded = _round_trip(BuiltInContainerMaterializer, value, uri)

    assert loaded == value
    assert type(loaded) is type(value)
    assert _files(uri) == ["data.pkl"]


def test_a_container_that_contains_itself_is_pickled(uri: Path) -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)

    loaded = _round_trip(BuiltInContainerMaterializer, cyclic, uri)

    assert loaded[0] == 1
    assert loaded[1] is loaded
    assert _files(uri) == ["data.pkl"]


def test_a_pickled_dict_shaped_like_the_json_envelope_loads_as_itself(uri: Path) -> None:
    value = {"kind": "tuple", "value": [1], 3: "non-str key forces pickle"}

    assert _round_trip(BuiltInContainerMaterializer, value, uri) == value


def test_container_metadata_is_the_length(uri: Path) -> None:
    assert BuiltInContainerMaterializer(str(uri)).extract_metadata({"a": 1, "b": 2}) == {"length": 2}


# Pickle


def test_the_pickle_materializer_round_trips_arbitrary_objects(uri: Path) -> None:
    value = {"nested": [Unregistered(1), Unregistered(2)]}

    assert _round_trip(PickleMaterializer, value, uri) == value
    assert _files(uri) == ["data.pkl"]


def test_the_pickle_materializer_claims_no_types() -> None:
    assert PickleMaterializer.ASSOCIATED_TYPES == ()


# numpy


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int64).reshape(3, 4),
        np.array([1.5, np.nan, np.inf], dtype=np.float32),
        np.zeros((0, 3)),
        np.array(["a", "bc"]),
    ],
    ids=lambda array: str(array.dtype),
)
def test_numpy_arrays_round_trip_as_npy(array: np.ndarray, uri: Path) -> None:
    loaded = _round_trip(NumpyMaterializer, array, uri)

    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == array.dtype
    assert _files(uri) == ["array.npy"]


def test_object_arrays_round_trip_with_pickle_allowed(uri: Path) -> None:
    array = np.array([{"a": 1}, [1, 2], None], dtype=object)

    loaded = _round_trip(NumpyMaterializer, array, uri)

    assert loaded.dtype == object
    assert list(loaded) == list(array)


def test_plain_arrays_are_saved_without_pickle(uri: Path) -> None:
    NumpyMaterializer(str(uri)).save(np.arange(3))

    np.load(uri / "array.npy", allow_pickle=False)  # would raise if pickled


def test_numpy_array_subclasses_are_pickled_to_keep_what_makes_them_special(uri: Path) -> None:
    masked = np.ma.masked_array([1, 2, 3], mask=[False, True, False])

    loaded = _round_trip(NumpyMaterializer, masked, uri)

    assert isinstance(loaded, np.ma.MaskedArray)
    assert list(loaded.mask) == [False, True, False]


def test_numpy_metadata_is_shape_dtype_and_size_only(uri: Path) -> None:
    metadata = NumpyMaterializer(str(uri)).extract_metadata(np.ones((2, 3), dtype=np.float32))

    assert metadata == {"shape": [2, 3], "dtype": "float32", "size": 6}
    json.dumps(metadata)


# pandas


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, np.nan, 2.0]},
        index=pd.Index([10, 20, 30], name="id"),
    )


def test_a_dataframe_round_trips(uri: Path) -> None:
    frame = _frame()

    loaded = _round_trip(PandasMaterializer, frame, uri)

    pd.testing.assert_frame_equal(loaded, frame)


@pytest.mark.parametrize("name", ["values", None])
def test_a_series_round_trips_as_a_series(name: str | None, uri: Path) -> None:
    series = pd.Series([1.0, 2.5, None], name=name)

    loaded = _round_trip(PandasMaterializer, series, uri)

    assert isinstance(loaded, pd.Series)
    pd.testing.assert_series_equal(loaded, series)


def test_without_pyarrow_frames_are_pickled(uri: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pandas_materializer, "pyarrow_available", lambda: False)

    PandasMaterializer(str(uri)).save(_frame())

    assert _files(uri) == ["df.pkl"]


def test_with_pyarrow_frames_are_written_as_parquet(uri: Path) -> None:
    pytest.importorskip("pyarrow")

    PandasMaterializer(str(uri)).save(_frame())

    assert _files(uri) == ["df.parquet"]


def test_with_pyarrow_a_named_series_is_written_as_parquet(uri: Path) -> None:
    pytest.importorskip("pyarrow")

    PandasMaterializer(str(uri)).save(pd.Series([1, 2], name="s"))

    assert _files(uri) == ["series.parquet"]


def test_a_frame_parquet_cannot_hold_falls_back_to_pickle(uri: Path) -> None:
    frame = pd.DataFrame({0: [1, "mixed"], "b": [object(), 2]})

    PandasMaterializer(str(uri)).save(frame)

    assert _files(uri) == ["df.pkl"]
    assert PandasMaterializer(str(uri)).load(pd.DataFrame).shape == (2, 2)


def test_pandas_metadata_is_shape_columns_and_dtypes(uri: Path) -> None:
    metadata = PandasMaterializer(str(uri)).extract_metadata(_frame())

    assert metadata == {
        "shape": [3, 3],
        "columns": ["a", "b", "c"],
        "dtypes": {"a": "int64", "b": str(_frame()["b"].dtype), "c": "float64"},
    }
    json.dumps(metadata)


def test_pandas_metadata_lists_at_most_fifty_columns(uri: Path) -> None:
    wide = pd.DataFrame(np.zeros((2, 80)), columns=[f"c{i}" for i in range(80)])

    metadata = PandasMaterializer(str(uri)).extract_metadata(wide)

    assert metadata["shape"] == [2, 80]
    assert len(metadata["columns"]) == 50
    assert len(metadata["dtypes"]) == 50


def test_series_metadata_counts_one_column(uri: Path) -> None:
    metadata = PandasMaterializer(str(uri)).extract_metadata(pd.Series([1, 2], name="s"))

    assert metadata == {"shape": [2, 1], "columns": ["s"], "dtypes": {"s": "int64"}}


def test_the_pandas_visualization_is_a_twenty_row_csv_preview(uri: Path) -> None:
    frame = pd.DataFrame({"n": range(100)})

    visualizations = PandasMaterializer(str(uri)).save_visualizations(frame)

    [(path, kind)] = visualizations.items()
    assert kind == "csv"
    assert Path(path) == uri / "preview.csv"
    assert len(pd.read_csv(path)) == 20


def test_the_pandas_materializer_matches_the_real_pandas_type_names() -> None:
    for cls in (pd.DataFrame, pd.Series):
        assert registry_module.qualified_name(cls) in PandasMaterializer.ASSOCIATED_TYPES
    assert registry_module.qualified_name(np.ndarray) in NumpyMaterializer.ASSOCIATED_TYPES


def test_the_lazy_registrations_match_the_classes_associated_types() -> None:
    assert materializers.LAZY_MATERIALIZERS == {
        "pipelines.sdk.materializers.numpy_materializer:NumpyMaterializer": (NumpyMaterializer.ASSOCIATED_TYPES),
        "pipelines.sdk.materializers.pandas_materializer:PandasMaterializer": (PandasMaterializer.ASSOCIATED_TYPES),
        "pipelines.sdk.materializers.pydantic_materializer:PydanticMaterializer": (
            materializers.PydanticMaterializer.ASSOCIATED_TYPES
        ),
    }


def test_numpy_and_pandas_materializers_are_importable_from_the_package() -> None:
    assert materializers.NumpyMaterializer is NumpyMaterializer
    assert materializers.PandasMaterializer is PandasMaterializer


# The registry


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        (type(None), BuiltInMaterializer),
        (bool, BuiltInMaterializer),
        (int, BuiltInMaterializer),
        (float, BuiltInMaterializer),
        (str, BuiltInMaterializer),
        (bytes, BytesMaterializer),
        (dict, BuiltInContainerMaterializer),
        (list, BuiltInContainerMaterializer),
        (tuple, BuiltInContainerMaterializer),
        (set, BuiltInContainerMaterializer),
        (frozenset, BuiltInContainerMaterializer),
        (np.ndarray, NumpyMaterializer),
        (pd.DataFrame, PandasMaterializer),
        (pd.Series, PandasMaterializer),
    ],
)
def test_the_global_registry_knows_the_built_in_types(data_type: type, expected: type[BaseMaterializer]) -> None:
    assert materializer_registry.materializer_for(data_type) is expected


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (list[int], BuiltInContainerMaterializer),
        (dict[str, int], BuiltInContainerMaterializer),
        (typing.List[int], BuiltInContainerMaterializer),  # noqa: UP006
        (typing.Optional[int], BuiltInMaterializer),  # noqa: UP045
        (int | None, BuiltInMaterializer),
        (typing.Annotated[str, "doc"], BuiltInMaterializer),
        (typing.NewType("UserId", int), BuiltInMaterializer),
        (None, BuiltInMaterializer),
    ],
    ids=repr,
)
def test_typing_annotations_resolve_to_their_concrete_class(annotation: Any, expected: type[BaseMaterializer]) -> None:
    assert materializer_registry.materializer_for(annotation) is expected


@pytest.mark.parametrize("annotation", [typing.Any, int | str, typing.Literal["a"], object], ids=repr)
def test_annotations_naming_no_single_class_fall_back_to_pickle(annotation: Any) -> None:
    with pytest.warns(UserWarning, match="object"):
        assert materializer_registry.materializer_for(annotation) is PickleMaterializer


def test_bool_gets_its_own_entry_even_when_int_is_overridden(
    registry: MaterializerRegistry,
) -> None:
    class IntMaterializer(_Stub):
        ASSOCIATED_TYPES = (int,)

    registry.register(IntMaterializer)

    assert registry.materializer_for(int) is IntMaterializer
    assert registry.materializer_for(bool) is BuiltInMaterializer


def test_a_subclass_materializer_beats_its_parents(registry: MaterializerRegistry) -> None:
    registry.register(DogMaterializer)
    registry.register(AnimalMaterializer)  # registered later, but less specific

    assert registry.materializer_for(Animal) is AnimalMaterializer
    assert registry.materializer_for(Dog) is DogMaterializer
    assert registry.materializer_for(Puppy) is DogMaterializer


def test_a_user_registration_overrides_the_built_in_one(registry: MaterializerRegistry) -> None:
    class MyDictMaterializer(_Stub):
        ASSOCIATED_TYPES = (dict,)

    registry.register(MyDictMaterializer)

    assert registry.materializer_for(dict) is MyDictMaterializer
    assert registry.materializer_for(list) is BuiltInContainerMaterializer


def test_register_can_name_types_explicitly(registry: MaterializerRegistry) -> None:
    registry.register(AnimalMaterializer, types=[Dog])

    assert registry.materializer_for(Puppy) is AnimalMaterializer


def test_a_later_class_entry_beats_an_earlier_name_entry_for_the_same_type(
    registry: MaterializerRegistry,
) -> None:
    class MyArrayMaterializer(_Stub):
        ASSOCIATED_TYPES = (np.ndarray,)

    registry.register(MyArrayMaterializer)

    assert registry.materializer_for(np.ndarray) is MyArrayMaterializer
    assert materializer_registry.materializer_for(np.ndarray) is NumpyMaterializer


def test_a_later_name_entry_beats_an_earlier_class_entry(
    registry: MaterializerRegistry,
) -> None:
    class ByName(_Stub):
        ASSOCIATED_TYPES = (f"{__name__}.Dog",)

    registry.register(DogMaterializer)
    registry.register(ByName)

    assert registry.materializer_for(Puppy) is ByName


def test_lazy_entries_import_their_materializer_only_when_matched(
    registry: MaterializerRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported: list[str] = []
    real_import = registry_module.importlib.import_module

    def spy(name: str) -> Any:
        imported.append(name)
        return real_import(name)

    monkeypatch.setattr(registry_module.importlib, "import_module", spy)
    registry.register_lazy([f"{__name__}.Dog"], f"{__name__}:DogMaterializer")

    assert registry.lookup(Animal) is None
    assert imported == []
    assert registry.materializer_for(Puppy) is DogMaterializer
    assert registry.materializer_for(Dog) is DogMaterializer
    assert imported == [__name__]  # resolved once, then cached


def test_a_lazy_entry_that_is_not_a_materializer_fails_clearly(
    registry: MaterializerRegistry,
) -> None:
    registry.register_lazy([f"{__name__}.Dog"], f"{__name__}:Animal")

    with pytest.raises(TypeError, match="not one"):
        registry.materializer_for(Dog)


@pytest.mark.parametrize("source", ["no_colon", ":Class", "module:"])
def test_register_lazy_refuses_malformed_sources(registry: MaterializerRegistry, source: str) -> None:
    with pytest.raises(ValueError, match="module:Class"):
        registry.register_lazy(["a.B"], source)


def test_register_refuses_what_is_not_a_materializer(registry: MaterializerRegistry) -> None:
    with pytest.raises(TypeError, match="BaseMaterializer"):
        registry.register(Animal)  # type: ignore[type-var]


def test_register_refuses_a_materializer_without_types(registry: MaterializerRegistry) -> None:
    with pytest.raises(ValueError, match="ASSOCIATED_TYPES"):
        registry.register(_Stub)


def test_register_refuses_bad_type_keys_and_registers_nothing(
    registry: MaterializerRegistry,
) -> None:
    with pytest.raises(ValueError, match=r"module\.QualName"):
        registry.register(AnimalMaterializer, types=[Dog, "nodots"])
    with pytest.raises(TypeError, match="not a class"):
        registry.register(AnimalMaterializer, types=[Dog, 3])  # type: ignore[list-item]

    assert registry.lookup(Dog) is None


def test_an_unknown_type_falls_back_to_pickle_with_a_warning_and_a_log_line(
    registry: MaterializerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="pipelines.materializers"),
        pytest.warns(UserWarning, match="Unregistered") as warned,
    ):
        assert registry.materializer_for(Unregistered) is PickleMaterializer

    message = str(warned[0].message)
    assert f"{__name__}.Unregistered" in message
    assert "register_materializer(MyMaterializer)" in message
    assert "output_materializers" in message
    assert any("Unregistered" in record.getMessage() for record in caplog.records)


def test_lookup_returns_none_without_warning_for_unknown_types(
    registry: MaterializerRegistry, recwarn: pytest.WarningsRecorder
) -> None:
    assert registry.lookup(Unregistered) is None
    assert len(recwarn) == 0


def test_materializer_for_value_uses_the_runtime_type() -> None:
    assert materializer_registry.materializer_for_value(True) is BuiltInMaterializer
    assert materializer_registry.materializer_for_value(np.arange(2)) is NumpyMaterializer
    assert materializer_registry.materializer_for_value(Color.RED) is BuiltInMaterializer


def test_a_copied_registry_does_not_leak_registrations_back(
    registry: MaterializerRegistry,
) -> None:
    registry.register(AnimalMaterializer)

    assert materializer_registry.lookup(Animal) is None


def test_register_materializer_is_a_decorator_on_the_global_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    isolated = materializer_registry.copy()
    monkeypatch.setattr(registry_module, "materializer_registry", isolated)

    @register_materializer
    class CatMaterializer(_Stub):
        ASSOCIATED_TYPES: ClassVar[tuple[type | str, ...]] = (Animal,)

    assert CatMaterializer.__name__ == "CatMaterializer"
    assert isolated.materializer_for(Dog) is CatMaterializer


# Import cost


def test_importing_the_materializers_does_not_import_numpy_or_pandas() -> None:
    code = (
        "import sys, pipelines.sdk.materializers as m; "
        "m.materializer_registry.materializer_for(list[int]); "
        "assert 'numpy' not in sys.modules and 'pandas' not in sys.modules, "
        "sorted(name for name in sys.modules if name.split('.')[0] in ('numpy', 'pandas'))"
    )

    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr


def test_the_materializers_import_no_django() -> None:
    code = (
        "import sys, pipelines.sdk.materializers, pipelines.sdk.artifact_store; "
        "assert not any(name.split('.')[0] == 'django' for name in sys.modules)"
    )

    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
