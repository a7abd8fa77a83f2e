"""A local store starts writing a large file to the disk while it is still being
written (issue 12): the commit's fsync then waits for the tail, not the whole file.

`local._start_writeback` (Linux's sync_file_range) is only a hint; the fsyncs of the
file and its folder at the commit are what make the file durable, and they stay.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from blake3 import blake3

from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.sdk.artifact_saving import save_artifact_value
from pipelines.sdk.materializers.numpy_materializer import NumpyMaterializer
from pipelines.sdk.source import source_of
from pipelines.sdk.stores import LocalArtifactStore, local

PIECE = 64 * 1024


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """What the writers ask of the kernel, in order: writeback starts (offset, bytes,
    and how much of the file the kernel has at that moment), fsyncs and renames."""
    seen: list[tuple[Any, ...]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def writeback(fd: int, offset: int, nbytes: int) -> None:
        seen.append(("writeback", offset, nbytes, os.fstat(fd).st_size))

    def fsync(fd: int) -> None:
        seen.append(("fsync", "folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"))
        real_fsync(fd)

    def replace(source: Any, target: Any) -> None:
        seen.append(("rename",))
        real_replace(source, target)

    monkeypatch.setattr(local, "WRITEBACK_BYTES", PIECE)
    monkeypatch.setattr(local, "_start_writeback", writeback)
    monkeypatch.setattr(local.os, "fsync", fsync)
    monkeypatch.setattr(local.os, "replace", replace)
    return seen


def _uri(store: LocalArtifactStore) -> str:
    return store.uri_for(run_id=1, step_run_id=2, attempt=1, output_index=0)


def _data(size: int) -> bytes:
    return np.random.default_rng(12).integers(0, 256, size, dtype=np.uint8).tobytes()


def _writebacks(events: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    return [(event[1], event[2]) for event in events if event[0] == "writeback"]


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/fd tells a folder's fsync from a file's")
def test_a_large_write_starts_each_pieces_writeback_before_the_commits_fsync(store, events):
    data = _data(5 * PIECE + 123)
    target = f"{_uri(store)}/blob.bin"
    with store.open(target, "wb") as handle:
        handle.write(b"header")  # buffered, then written ahead of the large write
        handle.write(data)
    size = len(data) + 6
    assert Path(target).read_bytes() == b"header" + data
    # The whole file, in order, in pieces no larger than WRITEBACK_BYTES, each
    # started once the kernel had its bytes.
    ranges = _writebacks(events)
    assert ranges[0][0] == 0
    assert sum(n for _, n in ranges) == size
    assert all(offset == previous + n for (previous, n), (offset, _) in itertools.pairwise(ranges))
    assert all(0 < n <= PIECE + 6 for _, n in ranges)
    assert all(event[3] >= event[1] + event[2] for event in events if event[0] == "writeback")
    # Then the durable commit, as before: the file's fsync, the rename, the folder's fsync.
    assert [e for e in events if e[0] != "writeback"] == [("fsync", "file"), ("rename",), ("fsync", "folder")]
    assert events.index(("fsync", "file")) > max(i for i, e in enumerate(events) if e[0] == "writeback")


def test_small_writes_adding_up_to_a_piece_start_its_writeback_too(store, events):
    data = _data(3 * PIECE)
    target = f"{_uri(store)}/blob.bin"
    with store.open(target, "wb") as handle:
        for start in range(0, len(data), 1000):
            handle.write(data[start : start + 1000])
    assert Path(target).read_bytes() == data
    ranges = _writebacks(events)
    assert len(ranges) >= 2
    assert ranges[0][0] == 0
    assert all(PIECE <= n < PIECE + 1000 for _, n in ranges)
    assert all(event[3] >= event[1] + event[2] for event in events if event[0] == "writeback")


def test_a_small_file_is_only_fsynced(store, events):
    target = f"{_uri(store)}/small.json"
    with store.open(target, "wb") as handle:
        handle.write(b"{}")
    assert _writebacks(events) == []
    assert [e[0] for e in events] == ["fsync", "rename", "fsync"]


def test_an_aborted_large_write_leaves_nothing(store, events):
    target = f"{_uri(store)}/blob.bin"

    def fail_while_saving() -> None:
        with store.open(target, "wb") as handle:
            handle.write(_data(3 * PIECE))
            raise RuntimeError("the step failed while saving")

    with pytest.raises(RuntimeError):
        fail_while_saving()
    assert _writebacks(events)
    assert not os.path.exists(target)
    assert os.listdir(Path(target).parent) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_a_large_array_saved_with_the_real_writeback_loads_and_verifies(store, monkeypatch):
    monkeypatch.setattr(local, "WRITEBACK_BYTES", PIECE)
    calls: list[int] = []
    real = local._start_writeback

    def counted(fd: int, offset: int, nbytes: int) -> None:
        calls.append(nbytes)
        real(fd, offset, nbytes)

    monkeypatch.setattr(local, "_start_writeback", counted)
    array = np.arange(20 * PIECE // 8, dtype=np.float64)
    uri = _uri(store)
    identities: dict[str, Any] = {}
    _, checksum, size = save_artifact_value(
        store=store, uri=uri, materializer=NumpyMaterializer, value=array, file_identities=identities
    )
    assert local._sync_file_range() is not None  # the hint really reaches the kernel here
    assert sum(calls) == size
    path = Path(uri) / "array.npy"
    assert identities["array.npy"][0] == "blake3:" + blake3(path.read_bytes()).hexdigest()
    loaded = load_artifact_version(
        uri=uri,
        materializer=source_of(NumpyMaterializer),
        data_type="numpy.ndarray",
        checksum=checksum,
        store=store,
    )
    np.testing.assert_array_equal(loaded, array)


def test_a_refused_writeback_hint_does_not_fail_the_write(store, monkeypatch):
    monkeypatch.setattr(local, "WRITEBACK_BYTES", PIECE)
    monkeypatch.setattr(local, "_writeback_call", [lambda fd, offset, nbytes, flags: -1])
    data = _data(4 * PIECE)
    target = f"{_uri(store)}/blob.bin"
    with store.open(target, "wb") as handle:
        handle.write(data)
    assert Path(target).read_bytes() == data
