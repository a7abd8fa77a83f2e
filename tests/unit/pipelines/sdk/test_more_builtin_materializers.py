"""Path, dataclass, pydantic and the structured strings: saved through the store, loaded back,
and their visualizations recorded beside the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import pytest

from pipelines.io import fileio
from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.sdk.artifact_saving import save_artifact_value
from pipelines.sdk.materializers import (
    BaseMaterializer,
    DataclassMaterializer,
    PathMaterializer,
    PickleMaterializer,
    PydanticMaterializer,
    StructuredStringMaterializer,
    materializer_registry,
)
from pipelines.sdk.materializers import registry as registry_module
from pipelines.sdk.source import source_of
from pipelines.sdk.stores import ArtifactStore, store_from_url
from pipelines.sdk.types import CSVString, HTMLString, MarkdownString
from pipelines.sdk.visualizations import MANIFEST

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return store_from_url(str(tmp_path / "artifacts"))
    return store_from_url(request.getfixturevalue("s3_store_url"))


@pytest.fixture
def local_store(tmp_path: Path) -> ArtifactStore:
    return store_from_url(str(tmp_path / "artifacts"))


_counter = iter(range(1_000_000))


def _round_trip(store: ArtifactStore, value: Any) -> tuple[Any, str, BaseMaterializer]:
    uri = store.uri_for(run_id=1, step_run_id=next(_counter), attempt=1, output_index=0)
    materializer = materializer_registry.materializer_for_value(value)
    saver, checksum, _ = save_artifact_value(store=store, uri=uri, materializer=materializer, value=value)
    data_type = f"{type(value).__module__}.{type(value).__qualname__}"
    loaded = load_artifact_version(
        uri=uri, materializer=source_of(materializer), data_type=data_type, checksum=checksum, store=store
    )
    return loaded, uri, saver


def _recorded(store: ArtifactStore, uri: str) -> dict[str, str]:
    path = f"{uri}/{MANIFEST}"
    if not store.exists(path):
        return {}
    with store.open(path, "rb") as handle:
        return json.loads(handle.read())


# Structured strings


@pytest.mark.parametrize(
    ("cls", "name", "kind"),
    [(HTMLString, "output.html", "html"), (MarkdownString, "output.md", "markdown"), (CSVString, "output.csv", "csv")],
)
def test_a_structured_string_is_its_file_and_visualizes_itself(
    local_store: ArtifactStore, cls: type, name: str, kind: str
) -> None:
    value = cls("<h1>Hi</h1>" if cls is HTMLString else "# Hi" if cls is MarkdownString else "a,b\n1,2\n")

    loaded, uri, _ = _round_trip(local_store, value)

    assert type(loaded) is cls
    assert loaded == value
    with local_store.open(f"{uri}/{name}", "rb") as handle:
        assert handle.read().decode() == value
    assert _recorded(local_store, uri) == {name: kind}
    assert materializer_registry.lookup(cls) is StructuredStringMaterializer


def test_the_structured_string_types_are_str_subclasses() -> None:
    for cls in (HTMLString, MarkdownString, CSVString):
        assert issubclass(cls, str)


# Path


def test_a_path_to_a_file_is_copied_into_the_store_and_loads_as_a_local_copy(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "in" / "model.bin"
    source.parent.mkdir()
    source.write_bytes(b"\x00weights\xff")

    loaded, uri, _ = _round_trip(store, source)
    source.unlink()  # the store holds the bytes, not the path

    assert isinstance(loaded, Path)
    assert loaded != source
    assert loaded.name == "model.bin"
    assert loaded.read_bytes() == b"\x00weights\xff"
    assert store.exists(f"{uri}/file/model.bin")


def test_a_path_to_a_folder_is_copied_whole(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "dataset"
    (source / "images" / "cats").mkdir(parents=True)
    (source / "labels.csv").write_text("a,b\n")
    (source / "images" / "cats" / "1.png").write_bytes(b"png")

    loaded, _, _ = _round_trip(store, source)

    assert loaded.is_dir()
    assert loaded != source
    assert sorted(p.relative_to(loaded).as_posix() for p in loaded.rglob("*") if p.is_file()) == [
        "images/cats/1.png",
        "labels.csv",
    ]
    assert (loaded / "images" / "cats" / "1.png").read_bytes() == b"png"


def test_an_empty_folder_loads_as_an_empty_folder(local_store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "empty"
    source.mkdir()

    loaded, _, _ = _round_trip(local_store, source)

    assert loaded.is_dir()
    assert list(loaded.iterdir()) == []


def test_a_path_that_does_not_exist_is_refused_with_its_name(local_store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        _round_trip(local_store, tmp_path / "nowhere")


def test_a_stored_name_that_climbs_out_is_refused(local_store: ArtifactStore, tmp_path: Path) -> None:
    uri = local_store.uri_for(run_id=1, step_run_id=999_999, attempt=1, output_index=0)
    with local_store.open(f"{uri}/path.json", "wb") as handle:
        handle.write(json.dumps({"kind": "file", "name": "../../escape"}).encode())

    with pytest.raises(ValueError, match="relative"):
        PathMaterializer(uri, local_store).load(Path)


def test_path_is_matched_for_the_concrete_path_class() -> None:
    assert materializer_registry.lookup(type(Path("/tmp"))) is PathMaterializer


# Dataclasses


@dataclass
class Inner:
    x: int
    label: str = "a"


@dataclass
class Config:
    name: str
    inner: Inner
    scores: list[float] = field(default_factory=list)
    ratio: float = 0.5


@dataclass
class Odd:
    when: tuple[int, int]  # JSON would turn the tuple into a list


def test_a_dataclass_is_saved_as_json_and_loads_as_itself(local_store: ArtifactStore) -> None:
    value = Config(name="run", inner=Inner(x=3), scores=[0.1, 0.2])

    loaded, uri, _ = _round_trip(local_store, value)

    assert loaded == value
    assert type(loaded.inner) is Inner
    with local_store.open(f"{uri}/data.json", "rb") as handle:
        assert json.loads(handle.read())["inner"] == {"x": 3, "label": "a"}
    assert _recorded(local_store, uri) == {"data.json": "json"}
    assert materializer_registry.lookup(Config) is DataclassMaterializer


def test_a_dataclass_json_would_change_is_pickled_whole(local_store: ArtifactStore) -> None:
    loaded, uri, _ = _round_trip(local_store, Odd(when=(1, 2)))

    assert loaded == Odd(when=(1, 2))
    assert local_store.exists(f"{uri}/data.pkl")
    assert not local_store.exists(f"{uri}/data.json")


def test_a_registered_materializer_for_a_dataclass_beats_the_dataclass_one(monkeypatch: pytest.MonkeyPatch) -> None:
    isolated = materializer_registry.copy()
    monkeypatch.setattr(registry_module, "materializer_registry", isolated)

    class ConfigMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (Config,)

        def load(self, data_type: type) -> Any:
            return None

        def save(self, data: Any) -> None:
            pass

    assert isolated.lookup(Config) is ConfigMaterializer
    assert isolated.lookup(Inner) is DataclassMaterializer


def test_a_plain_class_still_falls_back_to_pickle() -> None:
    class Plain:
        pass

    with pytest.warns(UserWarning, match="falling back to PickleMaterializer"):
        assert materializer_registry.materializer_for(Plain) is PickleMaterializer


# Pydantic


class Settings(pydantic.BaseModel):
    name: str
    layers: list[int]
    inner: dict[str, float] = {}


def test_a_pydantic_model_is_saved_as_json_and_validated_back(local_store: ArtifactStore) -> None:
    value = Settings(name="net", layers=[3, 4], inner={"lr": 0.1})

    loaded, uri, _ = _round_trip(local_store, value)

    assert type(loaded) is Settings
    assert loaded == value
    with local_store.open(f"{uri}/data.json", "rb") as handle:
        assert json.loads(handle.read()) == {"name": "net", "layers": [3, 4], "inner": {"lr": 0.1}}
    assert _recorded(local_store, uri) == {"data.json": "json"}
    assert materializer_registry.lookup(Settings) is PydanticMaterializer


def test_pydantic_is_not_imported_until_a_model_is_saved() -> None:
    code = (
        "import sys, pipelines.sdk.materializers as m, pipelines.sdk.types; "
        "m.materializer_registry.materializer_for(dict); "
        "assert 'pydantic' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# save_visualizations (ZenML's docs snippet, zenml -> pipelines)


class MyDataFrame(dict):
    pass


class MyMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (MyDataFrame,)
    SKIP_REGISTRATION = True

    def load(self, data_type: type) -> Any:
        with fileio.open(os.path.join(self.uri, "data.json"), "r") as f:
            return MyDataFrame(json.load(f))

    def save(self, data: Any) -> None:
        with fileio.open(os.path.join(self.uri, "data.json"), "w") as f:
            json.dump(data, f)

    def save_visualizations(self, data: Any) -> dict[str, str]:
        """Save visualizations of the given data."""
        visualization_path = os.path.join(self.uri, "visualization.html")
        with fileio.open(visualization_path, "w") as f:
            f.write("<html><body>data</body></html>")
        return {visualization_path: "html"}


def test_save_visualizations_is_called_after_save_and_recorded(local_store: ArtifactStore) -> None:
    uri = local_store.uri_for(run_id=2, step_run_id=1, attempt=1, output_index=0)

    _, checksum, _ = save_artifact_value(
        store=local_store, uri=uri, materializer=MyMaterializer, value=MyDataFrame(a=1)
    )

    assert _recorded(local_store, uri) == {"visualization.html": "html"}
    # The visualization and the record are part of the version's checked files.
    loaded = load_artifact_version(
        uri=uri,
        materializer=source_of(MyMaterializer),
        data_type=source_of(MyDataFrame).replace(":", "."),
        checksum=checksum,
        store=local_store,
    )
    assert loaded == {"a": 1}


class _Broken(MyMaterializer):
    def save_visualizations(self, data: Any) -> dict[str, str]:
        raise RuntimeError("matplotlib exploded")


class _Escaping(MyMaterializer):
    def save_visualizations(self, data: Any) -> dict[str, str]:
        return {
            "/etc/passwd": "text",
            os.path.join(self.uri, "v.html"): "flash",
            os.path.join(self.uri, "ok.md"): "markdown",
        }


def test_a_failing_visualization_does_not_fail_the_save(local_store: ArtifactStore) -> None:
    uri = local_store.uri_for(run_id=2, step_run_id=2, attempt=1, output_index=0)

    save_artifact_value(store=local_store, uri=uri, materializer=_Broken, value=MyDataFrame(a=1))

    assert _recorded(local_store, uri) == {}
    assert local_store.exists(f"{uri}/data.json")


def test_only_files_below_the_uri_with_a_known_type_are_recorded(local_store: ArtifactStore) -> None:
    uri = local_store.uri_for(run_id=2, step_run_id=3, attempt=1, output_index=0)

    save_artifact_value(store=local_store, uri=uri, materializer=_Escaping, value=MyDataFrame(a=1))

    assert _recorded(local_store, uri) == {"ok.md": "markdown"}
