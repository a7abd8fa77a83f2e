"""The artifact store contract, run against both stores: a local folder and S3.

S3 is moto's standalone server, a real process on a free local port (see
tests/s3_server.py), reached over HTTP through obstore as a deployment reaches AWS.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from blake3 import blake3

from pipelines.sdk import fileio
from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.sdk.artifact_saving import save_artifact_value
from pipelines.sdk.materializers.base import BaseMaterializer
from pipelines.sdk.materializers.numpy_materializer import NumpyMaterializer
from pipelines.sdk.source import source_of
from pipelines.sdk.stores import (
    ArtifactFilesMissing,
    ArtifactIntegrityError,
    ArtifactStore,
    LocalArtifactStore,
    ObjectArtifactStore,
    StoreConfigError,
    StoreUnreachable,
    base,
    manifest_digest,
    store_for_uri,
    store_from_url,
    tree_checksum,
)
from pipelines.sdk.stores.base import forget_verified
from tests.s3_server import free_port


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return store_from_url(str(tmp_path / "artifacts"))
    return store_from_url(request.getfixturevalue("s3_store_url"))


def _uri(store: ArtifactStore, output_index: int = 0, attempt: int = 1) -> str:
    return store.uri_for(run_id=1, step_run_id=2, attempt=attempt, output_index=output_index)


def _write(store: ArtifactStore, uri: str, data: bytes) -> None:
    with store.open(uri, "wb") as handle:
        handle.write(data)


def _read(store: ArtifactStore, uri: str) -> bytes:
    with store.open(uri, "rb") as handle:
        return handle.read()


def _sha(data: bytes) -> str:
    """A file's digest as versions record it (BLAKE3, tagged)."""
    return "blake3:" + blake3(data).hexdigest()


# Uris


def test_uris_are_built_from_ids_only_below_the_root(store: ArtifactStore) -> None:
    uri = store.uri_for(run_id=7, step_run_id=42, attempt=3, output_index=1)

    assert uri == f"{store.root_uri}/runs/7/steps/42/attempt-3/1"
    assert store.uri_for_saved(version_id=9) == f"{store.root_uri}/saved/9"
    if isinstance(store, LocalArtifactStore):
        assert os.path.isabs(uri)
    else:
        assert uri.startswith("s3://")
        assert uri.split("/")[3] == "artifacts"


@pytest.mark.parametrize("bad", [True, "1", -1, None, 1.0])
def test_uri_for_refuses_anything_but_non_negative_ints(store: ArtifactStore, bad: object) -> None:
    with pytest.raises(ValueError, match="run_id"):
        store.uri_for(run_id=bad, step_run_id=1, attempt=1, output_index=0)  # type: ignore[arg-type]


def test_uris_outside_the_root_are_refused(store: ArtifactStore) -> None:
    uri = _uri(store)
    outside = [uri + "/.." * 12 + "/x", uri + "\0", store.root_uri]
    if isinstance(store, ObjectArtifactStore):
        # Keys are compared as text, so any '..' (or empty or '.') segment is refused.
        outside += [uri + "/../x", uri + "//x", uri + "/./x"]
        outside += [uri.replace(store.bucket, "another-bucket"), uri.replace("/artifacts/", "/elsewhere/")]
    else:
        outside += ["/etc/passwd", "relative/runs/1"]
    for bad in outside:
        with pytest.raises(ValueError, match="uri"):
            store.open(bad, "rb")
        with pytest.raises(ValueError, match="uri"):
            store.remove(bad)


# Files


def test_a_file_written_is_read_back_and_listed(store: ArtifactStore) -> None:
    uri = _uri(store)
    store.makedirs(uri)
    _write(store, f"{uri}/data.bin", b"\x00bytes")
    with store.open(f"{uri}/nested/notes.txt", "w") as handle:
        handle.write("héllo\n")

    assert _read(store, f"{uri}/data.bin") == b"\x00bytes"
    with store.open(f"{uri}/nested/notes.txt", "r") as handle:
        assert handle.read() == "héllo\n"
    assert store.exists(uri)
    assert store.isdir(uri)
    assert store.exists(f"{uri}/data.bin")
    assert not store.isdir(f"{uri}/data.bin")
    assert store.listdir(uri) == ["data.bin", "nested"]
    assert list(store.walk(uri)) == [("data.bin", 6), ("nested/notes.txt", 7)]
    assert store.size(f"{uri}/data.bin") == 6
    assert store.size(uri) == 13
    assert not store.exists(_uri(store, output_index=5))
    assert list(store.walk(_uri(store, output_index=5))) == []


def test_reads_stream_and_seek(store: ArtifactStore) -> None:
    uri = f"{_uri(store)}/big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    _write(store, uri, data)

    with store.open(uri, "rb") as handle:
        assert handle.read(10) == data[:10]
        handle.seek(-7, os.SEEK_END)
        assert handle.read() == data[-7:]
        handle.seek(1024 * 1024)
        assert handle.read(5) == data[1024 * 1024 : 1024 * 1024 + 5]


def test_a_write_that_raises_leaves_nothing_and_keeps_the_earlier_file(store: ArtifactStore) -> None:
    uri = f"{_uri(store)}/data.bin"
    _write(store, uri, b"earlier")

    def fail_while_writing(path: str, mode: str, data: Any) -> None:
        with store.open(path, mode) as handle:
            handle.write(data)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_while_writing(uri, "wb", b"x" * (11 * 1024 * 1024))  # past two parts: a multipart upload on S3
    with pytest.raises(RuntimeError, match="boom"):
        fail_while_writing(f"{_uri(store)}/text.txt", "w", "half")

    assert _read(store, uri) == b"earlier"
    assert list(store.walk(_uri(store))) == [("data.bin", 7)]


def test_an_aborted_s3_write_leaves_no_multipart_upload_behind(s3_server, s3_store_url: str) -> None:
    import boto3

    store = store_from_url(s3_store_url)
    uri = f"{_uri(store)}/big.bin"

    def fail_mid_write() -> None:
        with store.open(uri, "wb") as handle:
            handle.write(b"x" * (12 * 1024 * 1024))  # two parts uploaded, a third buffered
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_mid_write()
    client = boto3.client("s3", endpoint_url=s3_server.endpoint)

    uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])  # type: ignore[attr-defined]

    assert uploads == []
    assert not store.exists(uri)


def test_a_writer_dropped_unclosed_writes_nothing(store: ArtifactStore) -> None:
    uri = _uri(store)
    handle = store.open(f"{uri}/data.bin", "wb")
    handle.write(b"half")
    text = store.open(f"{uri}/text.txt", "w")
    text.write("half")
    del handle, text
    gc.collect()

    assert list(store.walk(uri)) == []


def test_remove_deletes_a_file_or_a_whole_version(store: ArtifactStore) -> None:
    uri, other = _uri(store), _uri(store, output_index=1)
    for name in ("a", "b/c", "b/d/e"):
        _write(store, f"{uri}/{name}", b"1")
    _write(store, f"{other}/a", b"2")

    store.remove(f"{uri}/a")
    assert [path for path, _ in store.walk(uri)] == ["b/c", "b/d/e"]
    store.remove(uri)
    store.remove(uri)  # missing: not an error

    assert list(store.walk(uri)) == []
    assert not store.exists(uri)
    assert list(store.walk(other)) == [("a", 1)]


def test_check_reachable_passes_for_a_usable_store(store: ArtifactStore) -> None:
    store.check_reachable()


# Checksums


def test_the_checksum_is_the_manifest_digest_and_the_record_saves_a_second_read(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = _uri(store)
    with store.recording(uri) as record:
        _write(store, f"{uri}/a.bin", b"alpha")
        with fileio.open(f"{uri}/sub/b.txt", "w") as handle:  # another door, same record
            handle.write("beta")
    expected = manifest_digest([("a.bin", 5, _sha(b"alpha")), ("sub/b.txt", 4, _sha(b"beta"))])

    assert record.files == {"a.bin": (5, _sha(b"alpha")), "sub/b.txt": (4, _sha(b"beta"))}
    assert store.checksum(uri) == (expected, 9)
    monkeypatch.setattr(type(store), "file_digest", lambda *a: pytest.fail("read back a recorded file"))
    assert store.checksum(uri, record=record) == (expected, 9)


def test_files_written_around_the_file_api_are_read_back_for_the_checksum(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    uri = _uri(store)
    with store.recording(uri) as record:
        _write(store, f"{uri}/a.bin", b"alpha")
        Path(uri, "raw.txt").write_bytes(b"written with open()")
        Path(uri, "a.bin").write_bytes(b"rewritten")  # the record's size no longer matches

    digest, size = store.checksum(uri, record=record)

    assert (digest, size) == store.checksum(uri)
    assert digest == manifest_digest([("a.bin", 9, _sha(b"rewritten")), ("raw.txt", 19, _sha(b"written with open()"))])


def test_verify_names_the_uri_of_damaged_or_missing_bytes(store: ArtifactStore) -> None:
    uri = _uri(store)
    _write(store, f"{uri}/a.bin", b"alpha")
    checksum, size = store.checksum(uri)
    assert store.verify(uri, checksum) == size

    _write(store, f"{uri}/a.bin", b"alphA")
    with pytest.raises(ArtifactIntegrityError, match=f"{uri}.*do not match"):
        store.verify(uri, checksum)
    store.remove(uri)
    with pytest.raises(ArtifactFilesMissing, match=f"{uri} are missing"):
        store.verify(uri, checksum)


def test_a_local_version_recorded_with_the_old_tree_digest_still_verifies(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    uri = _uri(store)
    _write(store, f"{uri}/a.bin", b"alpha")
    _write(store, f"{uri}/b/c.txt", b"gamma")
    old, size = tree_checksum(uri)

    assert old != store.checksum(uri)[0]
    assert store.verify(uri, old) == size
    _write(store, f"{uri}/a.bin", b"alphA")
    with pytest.raises(ArtifactIntegrityError, match=uri):
        store.verify(uri, old)


def test_a_version_recorded_with_a_sha256_manifest_still_verifies(store: ArtifactStore) -> None:
    # Versions saved before BLAKE3 hold SHA-256 file digests in their manifest.
    uri = _uri(store)
    _write(store, f"{uri}/a.bin", b"alpha")
    _write(store, f"{uri}/b/c.txt", b"gamma")
    old = manifest_digest(
        [("a.bin", 5, hashlib.sha256(b"alpha").hexdigest()), ("b/c.txt", 5, hashlib.sha256(b"gamma").hexdigest())]
    )

    assert old != store.checksum(uri)[0]
    assert store.verify(uri, old) == 10
    assert (
        load_artifact_version(
            uri=uri, materializer=source_of(_BytesMaterializer), data_type="builtins.bytes", checksum=old, store=store
        )
        == b"alpha"
    )
    _write(store, f"{uri}/a.bin", b"alphA")
    with pytest.raises(ArtifactIntegrityError, match=uri):
        store.verify(uri, old)


class _BytesMaterializer(NumpyMaterializer):
    """Reads a.bin as it comes (a materializer that streams one file of several)."""

    def load(self, data_type: type) -> bytes:
        with self.artifact_store.open(f"{self.uri}/a.bin", "rb") as handle:
            return handle.read()


def _saved_array(store: ArtifactStore, array: np.ndarray) -> tuple[str, str]:
    uri = _uri(store)
    _, checksum, _ = save_artifact_value(store=store, uri=uri, materializer=NumpyMaterializer, value=array)
    return uri, checksum


def _load(store: ArtifactStore, uri: str, checksum: str) -> object:
    return load_artifact_version(
        uri=uri, materializer=source_of(NumpyMaterializer), data_type="numpy.ndarray", checksum=checksum, store=store
    )


def test_loading_hashes_the_array_as_it_streams_and_reads_it_once(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    array = np.arange(3 * 2**20, dtype=np.float64).reshape(3, -1)  # 24 MiB: the threaded path
    uri, checksum = _saved_array(store, array)
    forget_verified()  # as a process that did not write it
    monkeypatch.setattr(type(store), "file_digest", lambda *a: pytest.fail("read the array a second time"))

    assert np.array_equal(_load(store, uri, checksum), array)


def test_a_file_verified_once_is_not_hashed_again_while_it_keeps_its_identity(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    array = np.arange(3 * 2**20, dtype=np.float64)
    uri, checksum = _saved_array(store, array)
    forget_verified()
    assert np.array_equal(_load(store, uri, checksum), array)  # hashed as it streams, then noted
    hashed = []
    original = base.FileHash.update
    monkeypatch.setattr(base.FileHash, "update", lambda self, data: hashed.append(len(data)) or original(self, data))
    monkeypatch.setattr(base.FileHash, "update_beside", lambda *a: pytest.fail("hashed the array again"))

    assert np.array_equal(_load(store, uri, checksum), array)
    assert sum(hashed) < 1024  # at most the small header reads


def test_the_process_that_wrote_a_local_file_loads_it_without_hashing_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    array = np.arange(3 * 2**20, dtype=np.float64)
    uri, checksum = _saved_array(store, array)
    monkeypatch.setattr(base.FileHash, "update_beside", lambda *a: pytest.fail("hashed the array again"))

    assert np.array_equal(_load(store, uri, checksum), array)


def test_a_verified_local_file_changed_in_place_with_its_mtime_put_back_is_caught(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    array = np.arange(1000, dtype=np.float64)
    uri, checksum = _saved_array(store, array)
    _load(store, uri, checksum)  # verified: its identity is known
    path = Path(uri, "array.npy")
    before = path.stat()
    with open(path, "r+b") as handle:  # same size, same inode
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x01")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime cannot be put back

    with pytest.raises(ArtifactIntegrityError, match=f"{uri}.*do not match"):
        _load(store, uri, checksum)


def test_reading_an_object_in_order_is_one_get_not_one_per_buffer(s3_server, s3_store_url: str) -> None:
    store = store_from_url(s3_store_url)
    uri = f"{_uri(store)}/a.bin"
    data = os.urandom(9 * 2**20)
    _write(store, uri, data)
    key = f"/{uri.removeprefix('s3://')}"

    with store.open(uri, "rb") as handle:
        assert handle.read() == data

    gets = [line for line in s3_server.log_path.read_text().splitlines() if f"GET {key} " in line]
    assert len(gets) == 1, gets


def test_a_verified_object_replaced_by_one_of_the_same_size_is_caught(s3_store_url: str) -> None:
    store = store_from_url(s3_store_url)
    array = np.arange(1000, dtype=np.float64)
    uri, checksum = _saved_array(store, array)
    _load(store, uri, checksum)
    damaged = array.copy()
    damaged[0] = -1
    buffer = io.BytesIO()
    np.save(buffer, damaged)
    import obstore

    obstore.put(store._store, store.key(f"{uri}/array.npy"), buffer.getvalue())  # around our writer

    with pytest.raises(ArtifactIntegrityError, match=f"{uri}.*do not match"):
        _load(store, uri, checksum)


@pytest.mark.parametrize("size", [5, 3 * 2**20])
def test_loading_a_damaged_array_raises_naming_the_uri_before_returning_it(store: ArtifactStore, size: int) -> None:
    # The damage keeps the .npy valid, so only the checksum can catch it.
    array = np.arange(size, dtype=np.float64)
    uri, checksum = _saved_array(store, array)
    damaged = array.copy()
    damaged[-1] += 1
    with store.open(f"{uri}/array.npy", "wb") as handle:
        np.save(handle, damaged)

    with pytest.raises(ArtifactIntegrityError, match=f"{uri}.*do not match"):
        _load(store, uri, checksum)


def test_loading_an_array_whose_file_is_cut_short_raises_naming_the_uri(store: ArtifactStore) -> None:
    uri, checksum = _saved_array(store, np.arange(1000, dtype=np.float64))
    data = _read(store, f"{uri}/array.npy")
    _write(store, f"{uri}/array.npy", data[:-8])

    with pytest.raises(ArtifactIntegrityError, match=uri):
        _load(store, uri, checksum)


def test_a_file_read_out_of_order_is_hashed_again_at_the_end(store: ArtifactStore) -> None:
    uri = _uri(store)
    with store.recording(uri) as record:
        _write(store, f"{uri}/a.bin", b"alpha")
    checksum, _ = store.checksum(uri, record=record)
    forget_verified()  # as a process that did not write it

    with store.verifying(uri, checksum) as check, store.open(f"{uri}/a.bin", "rb") as handle:
        handle.seek(2)
        assert handle.read() == b"pha"
    assert check.streamed["a.bin"][0] == 0  # nothing hashed in order
    assert check.finish() == 5
    _write(store, f"{uri}/a.bin", b"alphA")
    with store.verifying(uri, checksum) as check, store.open(f"{uri}/a.bin", "rb") as handle:
        handle.seek(2)
        handle.read()
    with pytest.raises(ArtifactIntegrityError, match=uri):
        check.finish()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=">i4").reshape(3, 4),
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.arange(24.0).reshape(2, 3, 4)[:, ::2],  # not contiguous
        np.zeros((0, 3)),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array(["x", None], dtype=object),
        np.array(3.5),
    ],
    ids=["big-endian", "fortran", "strided", "empty", "records", "objects", "scalar"],
)
def test_the_numpy_materializer_round_trips_every_layout_as_numpy_reads_it(
    store: ArtifactStore, array: np.ndarray
) -> None:
    uri, checksum = _saved_array(store, array)

    loaded = _load(store, uri, checksum)

    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    assert loaded.tolist() == array.tolist()
    assert bool(loaded.flags.f_contiguous) == bool(array.flags.f_contiguous)
    if not array.dtype.hasobject:  # numpy's own reader agrees
        with store.open(f"{uri}/array.npy", "rb") as handle:
            assert np.load(io.BytesIO(handle.read())).tolist() == array.tolist()


def test_an_object_reader_streams_in_order_and_seeks(store: ArtifactStore) -> None:
    uri = _uri(store)
    data = bytes(range(256)) * 4096 * 9  # 9 MiB: more than one streamed chunk
    _write(store, f"{uri}/a.bin", data)
    _write(store, f"{uri}/empty", b"")

    with store.open(f"{uri}/a.bin", "rb") as handle:
        assert handle.read(10) == data[:10]
        assert handle.seek(-5, io.SEEK_END) == len(data) - 5
        assert handle.read() == data[-5:]
        handle.seek(4 * 2**20 - 3)
        assert handle.read(6) == data[4 * 2**20 - 3 : 4 * 2**20 + 3]
        handle.seek(0)
        assert handle.read() == data
    assert _read(store, f"{uri}/empty") == b""
    with pytest.raises(FileNotFoundError if isinstance(store, LocalArtifactStore) else OSError):
        store.open(f"{uri}/nothing", "rb")


# Picking the store


def test_store_for_uri_picks_the_store_by_scheme_bucket_and_root(store: ArtifactStore) -> None:
    uri = _uri(store)

    found = store_for_uri(f"{uri}/a.bin")

    assert found == store
    assert found.root_uri == store.root_uri
    assert store_for_uri(store.uri_for_saved(version_id=3)) == store


@pytest.mark.parametrize(
    "uri", ["relative/runs/1/steps/2/attempt-1/0", "/tmp/not-a-version", "s3://bucket/no/version", "ftp://x/saved/1"]
)
def test_store_for_uri_refuses_what_is_not_a_version_uri(uri: str) -> None:
    with pytest.raises(ValueError, match="uri"):
        store_for_uri(uri)


def test_a_version_written_under_an_earlier_store_loads_after_the_setting_changes(
    store: ArtifactStore, tmp_path: Path
) -> None:
    uri = _uri(store)
    with store.recording(uri) as record:
        NumpyMaterializer(uri).save(np.arange(5))
    checksum, _ = store.checksum(uri, record=record)
    configured_now = store_from_url(str(tmp_path / "another-store"))

    found = store_for_uri(uri, known=(configured_now,))
    loaded = load_artifact_version(
        uri=uri, materializer=source_of(NumpyMaterializer), data_type="numpy.ndarray", checksum=checksum
    )

    assert found == store
    assert loaded.tolist() == [0, 1, 2, 3, 4]


def test_load_names_the_uri_of_damaged_bytes(store: ArtifactStore) -> None:
    uri = _uri(store)
    NumpyMaterializer(uri).save(np.arange(5))
    checksum, _ = store.checksum(uri)
    with store.open(f"{uri}/array.npy", "wb") as handle:
        handle.write(b"damaged")

    with pytest.raises(ArtifactIntegrityError, match=uri):
        load_artifact_version(uri=uri, materializer=source_of(NumpyMaterializer), data_type="", checksum=checksum)
    store.remove(f"{uri}/array.npy")
    with pytest.raises(ArtifactFilesMissing, match=uri):
        load_artifact_version(uri=uri, materializer=source_of(NumpyMaterializer), data_type="", checksum=checksum)


def test_an_isolated_process_reaches_the_object_store_only_through_helper_processes(
    s3_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a Celery prefork worker's main process does (obstore is not fork-safe).
    from pipelines.sdk.stores import objects

    store = store_from_url(s3_store_url)
    uri = _uri(store)
    _write(store, f"{uri}/a.bin", b"alpha")
    helped: list[str] = []
    real_helper = objects._in_helper
    monkeypatch.setattr(
        objects, "_in_helper", lambda s, name, *a, **k: helped.append(name) or real_helper(s, name, *a, **k)
    )
    monkeypatch.setattr(objects, "_isolated_pid", os.getpid())

    assert list(store.walk(uri)) == [("a.bin", 5)]
    assert store.exists(uri)
    with pytest.raises(objects.ObjectStoreError, match="main process"):
        store.open(f"{uri}/a.bin", "rb")
    store.remove(uri)
    store.check_reachable()

    assert helped == ["walk", "exists", "remove", "_check_reachable"]
    assert list(store.walk(uri)) == []


# Configuration


@pytest.mark.parametrize(
    ("url", "kind", "bucket", "prefix"),
    [
        ("s3://my-bucket/some/prefix", ObjectArtifactStore, "my-bucket", "some/prefix"),
        ("s3://my-bucket", ObjectArtifactStore, "my-bucket", ""),
        ("gs://gcs-bucket/artifacts/", ObjectArtifactStore, "gcs-bucket", "artifacts"),
        ("az://container/artifacts", ObjectArtifactStore, "container", "artifacts"),
    ],
)
def test_object_store_urls_are_parsed(
    url: str, kind: type, bucket: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "account")
    store = store_from_url(url)

    assert isinstance(store, kind)
    assert (store.bucket, store.prefix) == (bucket, prefix)  # type: ignore[attr-defined]
    assert store.uri_for_saved(version_id=1) == f"{url.rstrip('/')}/saved/1"
    assert store_for_uri(store.uri_for_saved(version_id=1)) == store


def test_local_urls(tmp_path: Path) -> None:
    assert store_from_url(str(tmp_path)) == LocalArtifactStore(tmp_path)
    assert store_from_url(f"file://{tmp_path}") == LocalArtifactStore(tmp_path)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("relative/path", "not absolute"),
        ("ftp://host/x", "unsupported scheme"),
        ("s3://", "malformed"),
        ("s3://key:secret@bucket/x", "malformed"),
        ("s3://bucket/a/../b", "'..'"),
        ("file://remote-host/x", "names a host"),
        ("", "non-empty"),
    ],
)
def test_malformed_store_urls_are_refused_naming_the_url(url: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message) as caught:
        store_from_url(url)
    assert repr(url) in str(caught.value) or not url


def test_an_azure_store_without_an_account_is_a_config_error_naming_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AZURE_"):
            monkeypatch.delenv(name)

    with pytest.raises(StoreConfigError, match="az://container/x"):
        store_from_url("az://container/x")


def test_an_unreachable_s3_endpoint_is_reported_naming_the_url_and_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    store = store_from_url("s3://no-server/prefix")

    with pytest.raises(StoreUnreachable, match=r"s3://no-server/prefix cannot be reached: \w+") as caught:
        store.check_reachable()
    assert "connect" in str(caught.value).lower() or "error" in str(caught.value).lower()


def test_a_missing_bucket_is_reported_naming_the_url(s3_store_url: str) -> None:
    url = s3_store_url.replace("s3://", "s3://missing-").split("/artifacts")[0] + "/artifacts"

    with pytest.raises(StoreUnreachable, match=f"{url} cannot be reached"):
        store_from_url(url).check_reachable()


def test_an_unwritable_local_folder_is_reported_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    with pytest.raises(StoreUnreachable, match=str(blocker / "store")):
        store_from_url(str(blocker / "store")).check_reachable()


# The file API and materializers on every store


class ZenMLStyleMaterializer(BaseMaterializer):
    """Written exactly as a ZenML materializer: os.path.join on self.uri, fileio.open."""

    ASSOCIATED_TYPES = (dict,)
    SKIP_REGISTRATION = True  # every dict in the test session must not go through it

    def load(self, data_type: type) -> Any:
        with fileio.open(os.path.join(self.uri, "payload.json"), "r") as handle:
            payload = json.load(handle)
        assert fileio.exists(os.path.join(self.uri, "extra", "note.txt"))
        return payload

    def save(self, data: Any) -> None:
        fileio.makedirs(os.path.join(self.uri, "extra"))
        with fileio.open(os.path.join(self.uri, "payload.json"), "w") as handle:
            json.dump(data, handle)
        with fileio.open(os.path.join(self.uri, "extra", "note.txt"), "w") as handle:
            handle.write(str(self.artifact_store.url))


def test_a_zenml_style_materializer_works_on_every_store(store: ArtifactStore) -> None:
    uri = _uri(store)
    with store.recording(uri) as record:
        ZenMLStyleMaterializer(uri).save({"a": [1, 2]})
    checksum, _ = store.checksum(uri, record=record)

    loaded = load_artifact_version(
        uri=uri, materializer=source_of(ZenMLStyleMaterializer), data_type="builtins.dict", checksum=checksum
    )

    assert loaded == {"a": [1, 2]}
    assert sorted(record.files) == ["extra/note.txt", "payload.json"]


def test_fileio_surface(store: ArtifactStore) -> None:
    uri = _uri(store)
    for name in ("a.txt", "b.json", "d/e.txt", "d/f/g.txt"):
        with fileio.open(f"{uri}/{name}", "w") as handle:
            handle.write(name)

    assert fileio.listdir(uri) == ["a.txt", "b.json", "d"]
    assert fileio.isdir(f"{uri}/d")
    assert not fileio.isdir(f"{uri}/a.txt")
    assert fileio.size(f"{uri}/d/e.txt") == 7
    assert fileio.glob(f"{uri}/*.txt") == [f"{uri}/a.txt"]
    assert list(fileio.walk(uri)) == [
        (uri, ["d"], ["a.txt", "b.json"]),
        (f"{uri}/d", ["f"], ["e.txt"]),
        (f"{uri}/d/f", [], ["g.txt"]),
    ]
    fileio.copy(f"{uri}/a.txt", f"{uri}/copy.txt")
    with pytest.raises(FileExistsError):
        fileio.copy(f"{uri}/a.txt", f"{uri}/copy.txt")
    fileio.rename(f"{uri}/copy.txt", f"{uri}/moved.txt")
    with fileio.open(f"{uri}/moved.txt", "rb") as handle:
        assert handle.read() == b"a.txt"
    assert not fileio.exists(f"{uri}/copy.txt")
    fileio.remove(f"{uri}/moved.txt")
    with pytest.raises(IsADirectoryError):
        fileio.remove(f"{uri}/d")
    fileio.rmtree(f"{uri}/d")
    assert fileio.listdir(uri) == ["a.txt", "b.json"]
    stat = fileio.stat(f"{uri}/a.txt")
    assert (stat.st_size if isinstance(stat, os.stat_result) else stat["size"]) == 5


@pytest.mark.filterwarnings("ignore:No materializer is registered for type type")
def test_every_built_in_materializer_round_trips_on_every_store(store: ArtifactStore) -> None:
    import pandas as pd

    from pipelines.sdk.materializers import materializer_registry

    values = [3, "text", b"raw", {"a": 1}, (1, 2), {1, 2}, np.arange(3.0), pd.DataFrame({"x": [1, 2]}), object]
    for index, value in enumerate(values):
        uri = _uri(store, output_index=index)
        materializer = materializer_registry.materializer_for_value(value)
        materializer(uri).save(value)
        loaded = materializer(uri).load(type(value))
        if isinstance(value, np.ndarray):
            assert loaded.tolist() == value.tolist()
        elif isinstance(value, pd.DataFrame):
            assert loaded.equals(value)
        else:
            assert loaded == value


def test_a_50_mib_array_streams_through_the_store_without_being_held_twice(store: ArtifactStore) -> None:
    size = 50 * 1024 * 1024
    array = np.frombuffer(os.urandom(size), dtype=np.uint8)
    uri = _uri(store)

    tracemalloc.start()
    try:
        with store.recording(uri) as record:
            NumpyMaterializer(uri).save(array)
        _, save_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        checksum, total = store.checksum(uri, record=record)
        loaded = NumpyMaterializer(uri).load(np.ndarray)
        _, load_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total > size
    assert np.array_equal(loaded, array)
    # Saving holds np.save's ~16 MiB chunk and, on S3, the parts being uploaded,
    # never a second copy of the array; loading holds the new array and small buffers.
    assert save_peak < size * 0.85, f"saving peaked at {save_peak / 2**20:.0f} MiB"
    assert load_peak < size * 1.3, f"loading peaked at {load_peak / 2**20:.0f} MiB"
    assert store.verify(uri, checksum) == total


def test_a_materializer_reading_lines_is_checked_and_reads_whole_lines(store: ArtifactStore) -> None:
    uri = _uri(store)
    lines = [f"row {i}\n".encode() for i in range(1000)]
    with store.recording(uri) as record:
        _write(store, f"{uri}/rows.txt", b"".join(lines))
    checksum, _ = store.checksum(uri, record=record)
    forget_verified()

    with store.verifying(uri, checksum) as check, store.open(f"{uri}/rows.txt", "rb") as handle:
        assert list(handle) == lines
    assert check.streamed["rows.txt"][0] == len(b"".join(lines))  # hashed as it streamed
    assert check.finish() == len(b"".join(lines))
    with store.verifying(uri, checksum) as check, store.open(f"{uri}/rows.txt", "r") as text:
        assert text.readline() == "row 0\n"


def test_verify_reads_back_only_files_whose_digest_this_process_does_not_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the step cache checks a version before reusing it, in the worker that wrote it.
    # (An upload's identity is learnt from the first GET, so on S3 a read comes first.)
    store = LocalArtifactStore(tmp_path / "artifacts")
    uri, checksum = _saved_array(store, np.arange(1000, dtype=np.float64))
    original = base.FileHash.update
    monkeypatch.setattr(base.FileHash, "update", lambda *a: pytest.fail("read back a file it wrote"))
    assert store.verify(uri, checksum) > 8000

    monkeypatch.setattr(base.FileHash, "update", original)
    _write(store, f"{uri}/extra.txt", b"x")  # a new file: its digest is known too
    forget_verified()
    with pytest.raises(ArtifactIntegrityError, match=uri):
        store.verify(uri, checksum)


def test_an_object_read_in_windows_fails_if_it_is_replaced_between_them(
    s3_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.sdk.stores import objects

    monkeypatch.setattr(objects, "READ_WINDOW", 2**20)
    monkeypatch.setattr(objects, "STREAM_CHUNK", 2**19)
    store = store_from_url(s3_store_url)
    uri = f"{_uri(store)}/a.bin"
    data = os.urandom(3 * 2**20 + 5)
    _write(store, uri, data)
    with store.open(uri, "rb") as handle:
        assert handle.read() == data  # three windows and a bit, stitched in order

    with store.open(uri, "rb") as handle:
        first = handle.read(2**20 + 10)  # into the second window
        _write(store, uri, os.urandom(len(data)))  # replaced: a new ETag
        with pytest.raises(OSError, match=uri):
            handle.read()
    assert first == data[: 2**20 + 10]
