from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.sdk.artifact_store import LocalArtifactStore, atomic_open, atomic_write


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _uri(store: LocalArtifactStore, output_index: int = 0) -> str:
    return store.uri_for(run_id=1, step_run_id=2, attempt=3, output_index=output_index)


# uri_for


def test_uri_for_builds_an_absolute_path_from_ids_only(store: LocalArtifactStore) -> None:
    uri = store.uri_for(run_id=7, step_run_id=42, attempt=0, output_index=1)

    assert uri == str(store.root / "runs" / "7" / "steps" / "42" / "attempt-0" / "1")
    assert os.path.isabs(uri)


def test_each_attempt_gets_its_own_uri(store: LocalArtifactStore) -> None:
    first = store.uri_for(run_id=1, step_run_id=2, attempt=1, output_index=0)
    retry = store.uri_for(run_id=1, step_run_id=2, attempt=2, output_index=0)

    assert first != retry


@pytest.mark.parametrize("bad", [True, False, "1", 1.0, None, -1, "../x"])
@pytest.mark.parametrize("field", ["run_id", "step_run_id", "attempt", "output_index"])
def test_uri_for_rejects_anything_but_non_negative_ints(store: LocalArtifactStore, field: str, bad: object) -> None:
    ids: dict[str, object] = {"run_id": 1, "step_run_id": 2, "attempt": 3, "output_index": 4}
    ids[field] = bad

    with pytest.raises(ValueError, match=field):
        store.uri_for(**ids)  # type: ignore[arg-type]


def test_the_root_is_stored_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)

    store = LocalArtifactStore(tmp_path / "link")

    assert store.root == real.resolve()
    assert store.resolve(_uri(store)).is_relative_to(real.resolve())


# resolve


def test_resolve_accepts_uris_inside_the_root(store: LocalArtifactStore) -> None:
    uri = _uri(store)

    assert store.resolve(uri) == Path(uri)
    assert store.resolve(Path(uri)) == Path(uri)


def test_resolve_refuses_dot_dot_out_of_the_root(store: LocalArtifactStore) -> None:
    with pytest.raises(ValueError, match="not inside the artifact store root"):
        store.resolve(str(store.root / "runs" / ".." / ".." / "elsewhere"))


def test_resolve_allows_dot_dot_that_stays_inside(store: LocalArtifactStore) -> None:
    uri = str(store.root / "runs" / "1" / ".." / "2")

    assert store.resolve(uri) == store.root / "runs" / "2"


def test_resolve_refuses_an_absolute_path_outside_the_root(store: LocalArtifactStore) -> None:
    with pytest.raises(ValueError, match="not inside"):
        store.resolve("/etc/passwd")


def test_resolve_refuses_a_sibling_folder_sharing_the_roots_prefix(
    store: LocalArtifactStore,
) -> None:
    with pytest.raises(ValueError, match="not inside"):
        store.resolve(str(store.root) + "-evil/x")


def test_resolve_refuses_the_root_itself(store: LocalArtifactStore) -> None:
    with pytest.raises(ValueError, match="not inside"):
        store.resolve(str(store.root))


def test_resolve_refuses_a_symlink_leading_out_of_the_root(store: LocalArtifactStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    store.root.mkdir(parents=True)
    (store.root / "escape").symlink_to(outside)

    with pytest.raises(ValueError, match="not inside"):
        store.resolve(str(store.root / "escape" / "secret"))


def test_resolve_refuses_a_nul_byte(store: LocalArtifactStore) -> None:
    with pytest.raises(ValueError, match="NUL"):
        store.resolve(_uri(store) + "\0/etc/passwd")


def test_resolve_refuses_relative_uris(store: LocalArtifactStore) -> None:
    with pytest.raises(ValueError, match="not an absolute path"):
        store.resolve("runs/1/steps/2")


# ensure_dir and remove


def test_ensure_dir_creates_the_folder_and_its_parents(store: LocalArtifactStore) -> None:
    path = store.ensure_dir(_uri(store))

    assert path.is_dir()
    store.ensure_dir(_uri(store))  # twice is fine


def test_remove_deletes_the_whole_tree(store: LocalArtifactStore) -> None:
    uri = _uri(store)
    path = store.ensure_dir(uri)
    (path / "nested").mkdir()
    (path / "nested" / "file").write_bytes(b"x")

    store.remove(uri)

    assert not path.exists()


def test_remove_deletes_a_single_file(store: LocalArtifactStore) -> None:
    path = store.ensure_dir(_uri(store)) / "file"
    path.write_bytes(b"x")

    store.remove(str(path))

    assert not path.exists()


def test_remove_ignores_a_missing_uri(store: LocalArtifactStore) -> None:
    store.remove(_uri(store))


def test_remove_refuses_to_leave_the_root(store: LocalArtifactStore, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()

    with pytest.raises(ValueError, match="not inside"):
        store.remove(str(store.root / ".." / "victim"))

    assert victim.exists()


# checksum


def _write_tree(path: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def test_checksum_is_sha256_hex_and_total_size(store: LocalArtifactStore) -> None:
    uri = _uri(store)
    _write_tree(store.ensure_dir(uri), {"a": b"hello", "sub/b": b"world!"})

    digest, size = store.checksum(uri)

    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")
    assert size == 11


def test_checksum_is_the_same_for_the_same_tree_written_in_another_order(
    store: LocalArtifactStore,
) -> None:
    first, second = _uri(store, 0), _uri(store, 1)
    _write_tree(store.ensure_dir(first), {"a": b"1", "b/c": b"2", "d": b"3"})
    _write_tree(store.ensure_dir(second), {"d": b"3", "b/c": b"2", "a": b"1"})

    assert store.checksum(first) == store.checksum(second)


def test_checksum_changes_when_content_changes(store: LocalArtifactStore) -> None:
    uri = _uri(store)
    path = store.ensure_dir(uri)
    _write_tree(path, {"a": b"1"})
    before = store.checksum(uri)

    _write_tree(path, {"a": b"2"})

    assert store.checksum(uri)[0] != before[0]


def test_checksum_changes_when_a_file_is_renamed(store: LocalArtifactStore) -> None:
    uri = _uri(store)
    path = store.ensure_dir(uri)
    _write_tree(path, {"a": b"same"})
    before = store.checksum(uri)

    (path / "a").rename(path / "b")

    assert store.checksum(uri)[0] != before[0]


def test_checksum_tells_apart_contents_split_differently_between_files(
    store: LocalArtifactStore,
) -> None:
    first, second = _uri(store, 0), _uri(store, 1)
    _write_tree(store.ensure_dir(first), {"a": b"xy", "b": b"z"})
    _write_tree(store.ensure_dir(second), {"a": b"x", "b": b"yz"})

    assert store.checksum(first)[0] != store.checksum(second)[0]


def test_checksum_of_a_single_file_depends_only_on_its_content(
    store: LocalArtifactStore,
) -> None:
    path = store.ensure_dir(_uri(store))
    (path / "one").write_bytes(b"payload")
    (path / "two").write_bytes(b"payload")

    assert store.checksum(str(path / "one")) == store.checksum(str(path / "two"))
    assert store.checksum(str(path / "one"))[1] == 7


def test_checksum_streams_files_larger_than_one_chunk(store: LocalArtifactStore) -> None:
    uri = _uri(store)
    _write_tree(store.ensure_dir(uri), {"big": b"\x01" * (3 * 1024 * 1024 + 5)})

    assert store.checksum(uri)[1] == 3 * 1024 * 1024 + 5


def test_checksum_refuses_symlinks_inside_the_artifact(store: LocalArtifactStore, tmp_path: Path) -> None:
    uri = _uri(store)
    path = store.ensure_dir(uri)
    (tmp_path / "secret").write_bytes(b"s")
    (path / "link").symlink_to(tmp_path / "secret")

    with pytest.raises(ValueError, match="not a regular file"):
        store.checksum(uri)


def test_checksum_of_a_missing_uri_raises(store: LocalArtifactStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.checksum(_uri(store))


# atomic writes


def test_atomic_write_writes_the_bytes_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"

    atomic_write(target, b"data")

    assert target.read_bytes() == b"data"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_write_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    atomic_write(target, b"new")

    assert target.read_bytes() == b"new"


def test_atomic_write_gives_the_usual_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    umask = os.umask(0o022)
    os.umask(umask)

    atomic_write(target, b"x")

    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def _write_then_fail(target: Path, data: bytes) -> None:
    with atomic_open(target, "wb") as handle:
        handle.write(data)
        raise RuntimeError("boom")


def test_atomic_open_leaves_no_target_and_no_temp_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"

    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(target, b"partial")

    assert os.listdir(tmp_path) == []


def test_atomic_open_keeps_the_old_file_when_a_rewrite_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(target, b"new")

    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_write_of_a_non_bytes_value_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "out.bin", "text")  # type: ignore[arg-type]

    assert os.listdir(tmp_path) == []


def test_atomic_open_in_text_mode_writes_utf8(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"

    with atomic_open(target, "w") as handle:
        handle.write("héllo ✓")

    assert target.read_bytes() == "héllo ✓".encode()


def test_atomic_open_refuses_read_and_append_modes(tmp_path: Path) -> None:
    for mode in ("r", "rb", "a", "ab", "w+"):
        with pytest.raises(ValueError, match="modes"), atomic_open(tmp_path / "x", mode):
            pass

    assert os.listdir(tmp_path) == []
