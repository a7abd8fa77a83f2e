"""MemoryVersionStore: one small version's files in memory, as the engine saves and
loads the outputs it keeps in their rows (pipelines/sdk/artifact_saving.py)."""

from __future__ import annotations

import pytest

from pipelines.sdk.artifact_saving import inline_store, restore_inline_files, save_small_artifact_value
from pipelines.sdk.materializers.builtin import BuiltInContainerMaterializer, BuiltInMaterializer
from pipelines.sdk.materializers.numpy_materializer import NumpyMaterializer
from pipelines.sdk.stores import ArtifactIntegrityError, LocalArtifactStore
from pipelines.sdk.stores.memory import MemoryVersionStore


@pytest.fixture
def store(tmp_path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _uri(store: LocalArtifactStore) -> str:
    return store.uri_for(run_id=1, step_run_id=2, attempt=1, output_index=0)


def test_files_written_to_memory_have_the_checksum_the_store_gives_the_same_files(store):
    uri = _uri(store)
    memory = MemoryVersionStore(uri)
    with memory.open(f"{uri}/data.json", "wb") as handle:
        handle.write(b"[1, 2]")
    with memory.open(f"{uri}/sub/notes.txt", "w") as handle:
        handle.write("hello")

    assert list(memory.walk(uri)) == [("data.json", 6), ("sub/notes.txt", 5)]
    assert memory.listdir(uri) == ["data.json", "sub"]
    assert memory.isdir(f"{uri}/sub")
    assert not memory.isdir(f"{uri}/data.json")
    store.write_files(uri, memory.files)
    assert memory.checksum_of_files() == store.checksum(uri)
    with pytest.raises(ValueError, match="not below the version"):
        memory.open(f"{uri}-other/data.json", "rb")


def test_a_small_json_value_is_saved_for_its_row_and_copied_to_the_store(store):
    uri = _uri(store)

    _, checksum, size, files = save_small_artifact_value(
        store=store, uri=uri, materializer=BuiltInContainerMaterializer, value={"a": [1, 2.5, None]}
    )

    assert files == {"data.json": '{"kind": "dict", "value": {"a": [1, 2.5, null]}}'}
    assert store.verify(uri, checksum) == size
    loaded = BuiltInContainerMaterializer(uri, artifact_store=inline_store(uri, files, checksum)).load(dict)
    assert loaded == {"a": [1, 2.5, None]}


def test_a_long_str_is_left_to_the_usual_save(store):
    # Over the limit before saving: nothing is written here (save_artifact_value does it).
    uri = _uri(store)
    assert save_small_artifact_value(store=store, uri=uri, materializer=BuiltInMaterializer, value="x" * 5000) is None
    assert not store.exists(uri)


def test_a_json_value_over_the_limit_is_written_durably_to_the_store_only(store):
    uri = _uri(store)
    flushed = []

    _, checksum, size, files = save_small_artifact_value(
        store=store,
        uri=uri,
        materializer=BuiltInContainerMaterializer,
        value=list(range(2000)),
        before_durable_write=lambda: flushed.append("flush"),
    )

    assert files is None
    assert flushed == ["flush"]
    assert store.verify(uri, checksum) == size


def test_values_the_materializers_would_pickle_or_write_elsewhere_are_not_taken(store):
    import numpy as np

    uri = _uri(store)
    assert (
        save_small_artifact_value(store=store, uri=uri, materializer=BuiltInContainerMaterializer, value={1: 2}) is None
    )
    assert save_small_artifact_value(store=store, uri=uri, materializer=NumpyMaterializer, value=np.zeros(2)) is None
    assert not store.exists(uri)


def test_a_damaged_row_copy_is_refused_and_a_lost_store_copy_put_back(store):
    uri = _uri(store)
    _, checksum, _, files = save_small_artifact_value(store=store, uri=uri, materializer=BuiltInMaterializer, value=41)

    with pytest.raises(ArtifactIntegrityError, match="kept in its database row does not match"):
        inline_store(uri, {"data.json": "42"}, checksum)

    assert restore_inline_files(store=store, uri=uri, files=files, checksum=checksum) is False
    store.remove(uri)
    assert restore_inline_files(store=store, uri=uri, files=files, checksum=checksum) is True
    assert store.verify(uri, checksum) == 2
