"""A version carries its writer's file identities, so another process loads an untouched
file without hashing it, and still catches one that changed (issue 12).

Hashing is observed through `FileHash` itself (every byte any check hashes goes
through `update` or `update_beside`), never through timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from blake3 import blake3
from django.urls import reverse

from pipelines import pipeline, step
from pipelines.models import ArtifactVersion, PipelineRun, StepStatus
from pipelines.sdk.client import Client
from pipelines.sdk.materializers.numpy_materializer import NumpyMaterializer
from pipelines.sdk.source import source_of
from pipelines.sdk.stores import ArtifactIntegrityError, LocalArtifactStore
from pipelines.sdk.stores import base as stores_base
from pipelines.sdk.stores.base import (
    CARRIED_LIMIT,
    CARRIED_MIN_BYTES,
    carried_identities,
    claims_from,
    forget_verified,
    verified_digest,
)
from pipelines.services.runs import pipeline_run_create
from pipelines.storage import artifact_store
from tests.unit.dashboard_data import use_fresh_store
from tests.unit.pipelines.api.test_api_bad_input import InProcessTransport

ROOT = Path(__file__).resolve().parents[3]
ITEMS = 2**20  # an 8 MiB float64 array: its file is well above CARRIED_MIN_BYTES
ARRAY_BYTES = ITEMS * 8


@step(enable_cache=False)
def make_array() -> np.ndarray:
    return np.arange(ITEMS, dtype=np.float64)


@step(enable_cache=False)
def add_up(values: np.ndarray) -> float:
    return float(values.sum())


@pipeline(enable_cache=False)
def array_pipeline():
    add_up(make_array())


@pytest.fixture(autouse=True)
def _fresh(settings, tmp_path, monkeypatch):
    use_fresh_store(settings, tmp_path)
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", "store")  # an in-process server streams no download
    yield
    forget_verified()


@pytest.fixture
def hashed(monkeypatch) -> list[int]:
    """The byte counts handed to BLAKE3 from now on, by anyone."""
    counts: list[int] = []
    update, beside = stores_base.FileHash.update, stores_base.FileHash.update_beside

    def counting_update(self: Any, data: Any) -> None:
        counts.append(memoryview(data).nbytes)
        update(self, data)

    def counting_beside(self: Any, data: memoryview, io_call: Any) -> Any:
        counts.append(data.nbytes)
        return beside(self, data, io_call)

    monkeypatch.setattr(stores_base.FileHash, "update", counting_update)
    monkeypatch.setattr(stores_base.FileHash, "update_beside", counting_beside)
    return counts


@pytest.fixture
def client(api, monkeypatch) -> Client:
    # Every Client of the test (save_artifact makes its own) talks to the in-process server.
    monkeypatch.setenv("PIPELINES_SERVER_URL", "http://pipelines.test")
    monkeypatch.setenv("PIPELINES_API_TOKEN", "unused")
    monkeypatch.setattr(Client, "_http", lambda self: InProcessTransport(api))
    return Client()


def _array_version(owner, broker) -> ArtifactVersion:
    run = pipeline_run_create(spec=array_pipeline.compile(), user=owner)
    broker.drain()
    run.refresh_from_db()
    assert run.status == "completed"
    return run.steps.get(name="make_array").output_links.get().artifact_version


def _array_file(version: ArtifactVersion) -> Path:
    return Path(version.uri, "array.npy")


def _blake3_of(path: Path) -> str:
    return "blake3:" + blake3(path.read_bytes()).hexdigest()


def _change_in_place_keeping_mtime(path: Path) -> None:
    before = path.stat()
    with open(path, "r+b") as handle:  # same size, same inode
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x01")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime cannot be put back


# What is recorded --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_step_output_records_the_identity_and_digest_its_writer_established(owner, broker):
    version = _array_version(owner, broker)

    info = _array_file(version).stat()
    digest, identity = version.file_identities["array.npy"]
    assert identity == [info.st_size, info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns]
    assert digest == _blake3_of(_array_file(version))
    # Small files (the visualization manifest, if any) cost no more to hash than to open.
    assert all(entry[1][0] >= CARRIED_MIN_BYTES for entry in version.file_identities.values())


@pytest.mark.django_db(transaction=True)
def test_the_api_and_the_client_hand_out_the_recorded_identities(owner, broker, api, client):
    version = _array_version(owner, broker)

    by_id = api.get(reverse("artifact-version-detail", kwargs={"pk": version.id})).json()
    by_name = api.get(reverse("artifact-version-lookup"), {"artifact": version.artifact.name}).json()

    assert by_id["file_identities"] == by_name["file_identities"] == version.file_identities
    assert client.get_artifact_version(version.id).file_identities == version.file_identities


# Loading ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_client_in_a_new_process_loads_an_untouched_array_without_hashing_it(owner, broker, client, hashed):
    version = _array_version(owner, broker)
    forget_verified()  # as a process that did not write it
    hashed.clear()

    loaded = client.get_artifact_version(version.id).load()

    assert np.array_equal(loaded, np.arange(ITEMS, dtype=np.float64))
    assert sum(hashed) < CARRIED_MIN_BYTES  # at most the small files, never the array


@pytest.mark.django_db(transaction=True)
def test_without_the_recorded_identities_the_first_load_hashes_the_array(owner, broker, client, hashed):
    # The other side of the test above: the counter does see a hashed array.
    version = _array_version(owner, broker)
    ArtifactVersion.objects.filter(id=version.id).update(file_identities={})
    forget_verified()
    hashed.clear()

    client.get_artifact_version(version.id).load()

    assert sum(hashed) >= ARRAY_BYTES


@pytest.mark.django_db(transaction=True)
def test_an_array_changed_in_place_with_its_mtime_put_back_fails_the_clients_load(owner, broker, client):
    version = _array_version(owner, broker)
    _change_in_place_keeping_mtime(_array_file(version))
    forget_verified()

    with pytest.raises(ArtifactIntegrityError, match=f"{version.uri}.*do not match"):
        client.get_artifact_version(version.id).load()


@pytest.mark.django_db(transaction=True)
def test_an_array_replaced_by_a_copy_of_itself_is_hashed_again(owner, broker, client, hashed):
    version = _array_version(owner, broker)
    path = _array_file(version)
    copy = path.with_name("copy.tmp")
    copy.write_bytes(path.read_bytes())
    os.replace(copy, path)  # the same bytes, another file
    forget_verified()
    hashed.clear()

    assert np.array_equal(client.get_artifact_version(version.id).load(), np.arange(ITEMS, dtype=np.float64))
    assert sum(hashed) >= ARRAY_BYTES


@pytest.mark.django_db(transaction=True)
def test_the_next_step_loads_its_input_without_hashing_it_in_a_new_worker_process(owner, broker, settings, hashed):
    settings.PIPELINES = {**settings.PIPELINES, "RUN_NEXT_STEP_INLINE": False}
    run = pipeline_run_create(spec=array_pipeline.compile(), user=owner)
    from pipelines.engine.executor import step_run_execute

    step_run_execute(step_run_id=broker.sent.pop(0))  # make_array
    forget_verified()  # the next step runs in another worker process
    hashed.clear()

    broker.drain()

    run.refresh_from_db()
    assert run.status == "completed"
    assert run.steps.get(name="add_up").status == StepStatus.COMPLETED
    assert sum(hashed) < CARRIED_MIN_BYTES


@pytest.mark.django_db(transaction=True)
def test_a_changed_input_still_fails_the_next_step_in_a_new_worker_process(owner, broker, settings):
    settings.PIPELINES = {**settings.PIPELINES, "RUN_NEXT_STEP_INLINE": False}
    run = pipeline_run_create(spec=array_pipeline.compile(), user=owner)
    from pipelines.engine.executor import step_run_execute

    step_run_execute(step_run_id=broker.sent.pop(0))
    version = run.steps.get(name="make_array").output_links.get().artifact_version
    _change_in_place_keeping_mtime(_array_file(version))
    forget_verified()

    broker.drain()

    failed = PipelineRun.objects.get(id=run.id).steps.get(name="add_up")
    assert failed.status == StepStatus.FAILED
    assert "ArtifactIntegrityError" in failed.error
    assert version.uri in failed.error


def _load_in_a_new_process(version: ArtifactVersion, file_identities: Any) -> dict[str, Any]:
    script = """
import json, sys
from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.sdk.stores import base

hashed = []
update, beside = base.FileHash.update, base.FileHash.update_beside
base.FileHash.update = lambda self, data: hashed.append(memoryview(data).nbytes) or update(self, data)
base.FileHash.update_beside = lambda self, data, call: hashed.append(data.nbytes) or beside(self, data, call)
value = load_artifact_version(**json.load(sys.stdin))
print(json.dumps({"hashed": sum(hashed), "total": float(value.sum())}))
"""
    details = {
        "uri": version.uri,
        "materializer": version.materializer,
        "data_type": version.data_type,
        "checksum": version.checksum,
        "file_identities": file_identities,
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(details),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.django_db(transaction=True)
def test_a_real_new_process_hashes_the_array_only_without_its_recorded_identity(owner, broker):
    version = _array_version(owner, broker)
    expected = float(np.arange(ITEMS, dtype=np.float64).sum())

    with_record = _load_in_a_new_process(version, version.file_identities)
    without = _load_in_a_new_process(version, {})

    assert with_record == {"hashed": with_record["hashed"], "total": expected}
    assert with_record["hashed"] < CARRIED_MIN_BYTES
    assert without["hashed"] >= ARRAY_BYTES


# Records that are wrong --------------------------------------------------------------

GARBAGE = [
    "not a dict",
    ["array.npy"],
    {"array.npy": "blake3:00"},
    {"array.npy": ["blake3:" + "0" * 64]},
    {"array.npy": [12, [1, 2, 3]]},
    {"array.npy": ["sha256:" + "0" * 64, [1, 2, 3, 4, 5]]},
    {"array.npy": ["blake3:" + "0" * 64, "1 2 3"]},
    {"array.npy": ["blake3:" + "0" * 64, [True, 1]]},
    {"array.npy": ["blake3:" + "0" * 64, [[1], 2]]},
    {"array.npy": ["blake3:" + "0" * 64, [-1, 2]]},
    {"../array.npy": ["blake3:" + "0" * 64, [1, 2]]},
    {str(i): ["blake3:" + "0" * 64, [1, 2]] for i in range(CARRIED_LIMIT + 1)},
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_records_of_another_shape_are_ignored(garbage):
    assert claims_from(garbage) == {}


def test_a_record_of_the_right_shape_is_taken_entry_by_entry():
    digest = "blake3:" + "ab" * 32
    record = {"data/array.npy": [digest, [10, 1, 2, 3, 4]], "bad": [digest, "1 2"], "": [digest, [5, "etag"]]}

    assert claims_from(record) == {"data/array.npy": ((10, 1, 2, 3, 4), digest), "": ((5, "etag"), digest)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("garbage", GARBAGE[:4], ids=range(4))
def test_a_garbage_record_in_the_row_is_served_and_loads_by_hashing(owner, broker, api, client, hashed, garbage):
    version = _array_version(owner, broker)
    ArtifactVersion.objects.filter(id=version.id).update(file_identities=garbage)
    forget_verified()
    hashed.clear()

    assert api.get(reverse("artifact-version-detail", kwargs={"pk": version.id})).status_code == 200
    assert np.array_equal(client.get_artifact_version(version.id).load(), np.arange(ITEMS, dtype=np.float64))
    assert sum(hashed) >= ARRAY_BYTES


@pytest.mark.django_db(transaction=True)
def test_a_wrong_digest_for_the_right_identity_costs_a_read_not_a_failed_load(owner, broker, client, hashed):
    version = _array_version(owner, broker)
    real_digest, identity = version.file_identities["array.npy"]
    wrong = {"array.npy": ["blake3:" + "0" * 64, identity]}
    ArtifactVersion.objects.filter(id=version.id).update(file_identities=wrong)
    forget_verified()
    hashed.clear()

    assert np.array_equal(client.get_artifact_version(version.id).load(), np.arange(ITEMS, dtype=np.float64))

    assert sum(hashed) >= ARRAY_BYTES  # the claim did not hold: the bytes decided
    # What this process now knows is the real digest, not the wrong claim.
    assert verified_digest(str(_array_file(version)), tuple(identity)) == real_digest


@pytest.mark.django_db(transaction=True)
def test_a_changed_array_fails_whatever_digest_the_record_claims_for_its_old_identity(owner, broker, client):
    version = _array_version(owner, broker)
    _change_in_place_keeping_mtime(_array_file(version))
    forget_verified()

    # The record is the writer's: the changed file has another identity, so it is hashed.
    with pytest.raises(ArtifactIntegrityError, match="do not match"):
        client.get_artifact_version(version.id).load()


# The save_artifact path: the server records what it read, not what the client says ----


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_finish_records_the_servers_own_identities_and_ignores_any_the_client_sends(api):
    started = api.post(reverse("artifact-version-list"), {"artifact": "weights"}, format="json")
    assert started.status_code == 201, started.content
    uri = started.json()["uri"]
    store = artifact_store()
    with store.open(f"{uri}/array.npy", "wb") as handle:
        np.save(handle, np.arange(ITEMS, dtype=np.float64))
    forged = {"array.npy": ["blake3:" + "0" * 64, [ARRAY_BYTES + 128, 1, 2, 3, 4]], "x": "garbage"}

    finished = api.post(
        reverse("artifact-version-finish", kwargs={"pk": started.json()["id"]}),
        {"materializer": source_of(NumpyMaterializer), "data_type": "numpy.ndarray", "file_identities": forged},
        format="json",
    )

    assert finished.status_code == 200, finished.content
    version = ArtifactVersion.objects.get(id=started.json()["id"])
    info = Path(uri, "array.npy").stat()
    digest, identity = version.file_identities["array.npy"]
    assert identity == [info.st_size, info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns]
    assert digest == _blake3_of(Path(uri, "array.npy"))
    assert list(version.file_identities) == ["array.npy"]
    assert finished.json()["file_identities"] == version.file_identities


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker")
def test_a_version_saved_by_a_client_loads_in_a_new_process_without_hashing(client, hashed):
    from pipelines import save_artifact

    saved = save_artifact(np.arange(ITEMS, dtype=np.float64), name="weights")
    forget_verified()
    hashed.clear()

    assert np.array_equal(client.get_artifact_version(saved.id).load(), np.arange(ITEMS, dtype=np.float64))
    assert sum(hashed) < CARRIED_MIN_BYTES


# The download routes do not take the record's word ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_download_route_verifies_even_when_the_record_vouches_for_the_changed_file(owner, broker, api):
    version = _array_version(owner, broker)
    path = _array_file(version)
    _change_in_place_keeping_mtime(path)
    info = path.stat()
    # The strongest lie: the changed file's own identity, with the digest of the original.
    vouching = {
        "array.npy": [
            version.file_identities["array.npy"][0],
            [info.st_size, info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns],
        ]
    }
    ArtifactVersion.objects.filter(id=version.id).update(file_identities=vouching)
    forget_verified()

    response = api.get(reverse("artifact-version-download", kwargs={"pk": version.id}))

    assert response.status_code == 409
    assert "do not match" in response.json()["detail"]


# What a store records ----------------------------------------------------------------


def test_only_the_largest_files_above_the_minimum_are_recorded():
    found = {f"f{i:03d}": ((CARRIED_MIN_BYTES + i, 1, i, 5, 7), f"d{i}") for i in range(CARRIED_LIMIT + 10)}
    found["small"] = ((CARRIED_MIN_BYTES - 1, 1, 999, 5, 7), "d")

    kept = carried_identities(found)

    assert len(kept) == CARRIED_LIMIT
    assert "small" not in kept
    assert set(kept) == {f"f{i:03d}" for i in range(10, CARRIED_LIMIT + 10)}
    assert kept["f050"] == ["d50", [CARRIED_MIN_BYTES + 50, 1, 50, 5, 7]]


def test_a_local_store_does_not_record_identities_with_whole_second_timestamps(tmp_path):
    store = LocalArtifactStore(tmp_path)

    assert store.carries_identity((10, 1, 2, 3_000_000_000, 4_000_000_123))
    assert not store.carries_identity((10, 1, 2, 3_000_000_000, 4_000_000_000))
