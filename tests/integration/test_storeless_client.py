"""A Client that cannot reach the artifact store loads artifacts through the server.

The versions are written to the live server's local store. The client runs in a
separate process whose mount namespace hides that store behind an empty tmpfs
(`unshare --mount`), as on a laptop that has no mount of the workers' disk: the
path does not exist there. It must load every value identically, through
GET /api/v1/artifact-versions/{id}/download/, and a damaged version must raise an
error naming its uri.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pipelines.models import ArtifactVersion
from pipelines.sdk.source import source_of
from pipelines.sdk.stores.base import VERSION_PATH
from pipelines.services.tokens import api_token_create
from pipelines.storage import artifact_store
from tests.integration.storeless_materializers import SingleFileArrayMaterializer
from tests.unit.dashboard_data import save_value

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _own_store(settings, tmp_path):
    """A store of this test's own (ids restart with every flushed database)."""
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": str(tmp_path / "artifacts")}


def _unshare_prefix(hidden: str) -> list[str]:
    """Run a command with `hidden` replaced by an empty folder, for it alone."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        pytest.skip("needs Linux and unshare(1) to hide the store from the client process")
    # --map-root-user lets an unprivileged user mount in its own namespace.
    probe = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "true"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare --mount is not allowed here: {probe.stderr.strip()}")
    return ["unshare", "--mount", "--map-root-user", "sh", "-c", f'mount -t tmpfs none "{hidden}" && exec "$@"', "sh"]


def _store_root(uri: str) -> str:
    match = VERSION_PATH.search(uri)
    assert match, uri
    return uri[: match.start()]


CLIENT_SCRIPT = textwrap.dedent(
    """
    import json, logging, os, sys
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    from pipelines.client import Client
    from pipelines.sdk.stores import ArtifactIntegrityError

    store = sys.argv[1]
    results = {"store_visible": os.path.exists(os.path.join(store, "saved"))}
    client = Client()
    for version_id in map(int, sys.argv[3:]):
        try:
            value = client.get_artifact_version(version_id).load()
        except ArtifactIntegrityError as exc:
            results[version_id] = {"error": "ArtifactIntegrityError", "message": str(exc)}
            continue
        except Exception as exc:
            results[version_id] = {"error": type(exc).__name__, "message": str(exc)}
            continue
        if type(value).__module__ == "numpy":
            results[version_id] = {"array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
        else:
            results[version_id] = {"value": value, "type": type(value).__name__}
    with open(sys.argv[2], "w") as out:
        json.dump(results, out)
    """
)


def _load_in_hidden_process(
    live_server, owner, tmp_path, versions, *, access: str = "auto", hide: bool = True
) -> tuple[dict, str]:
    """Load `versions` in a client process that cannot reach their store: the local
    store hidden by a mount namespace, or (hide=False) an object store without the
    AWS variables (no credentials, no endpoint)."""
    _, key = api_token_create(user=owner)
    root = _store_root(versions[0].uri)
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    out = tmp_path / "out.json"
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata credentials either
        "PIPELINES_SERVER_URL": live_server.url,
        "PIPELINES_API_TOKEN": key,
        "PIPELINES_ARTIFACT_ACCESS": access,
        "PYTHONPATH": str(REPO),
    }
    command = [
        *(_unshare_prefix(root) if hide else []),
        sys.executable,
        str(script),
        root,
        str(out),
        *(str(v.id) for v in versions),
    ]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stderr


def _single_file_array(array: np.ndarray) -> ArtifactVersion:
    saved = save_value("single-file-array", "placeholder")
    path = Path(saved.uri) / "weights.npy"
    with open(path, "wb") as handle:
        np.save(handle, array)
    (Path(saved.uri) / "data.json").unlink()
    checksum, size = artifact_store().checksum(str(path))
    ArtifactVersion.objects.filter(id=saved.id).update(
        uri=str(path),
        checksum=checksum,
        size=size,
        materializer=source_of(SingleFileArrayMaterializer),
        data_type="numpy.ndarray",
    )
    return ArtifactVersion.objects.get(id=saved.id)


def test_a_client_without_the_store_loads_every_artifact_through_the_server(live_server, owner, tmp_path):
    array = np.arange(24, dtype=np.float32).reshape(4, 6) / 7
    single = np.array([[1, 2], [3, 4]], dtype=np.int64)
    versions = [
        save_value("weights", array),
        save_value("config", {"lr": 0.1, "layers": [64, 32], "name": "net"}),
        save_value("numbers", [1, 2.5, "three", None, True]),
        _single_file_array(single),
    ]

    results, log = _load_in_hidden_process(live_server, owner, tmp_path, versions)

    assert results.pop("store_visible") is False  # the client process really could not see it
    weights, config, numbers, one_file = (results[str(v.id)] for v in versions)
    assert weights == {"array": array.tolist(), "dtype": "float32", "shape": [4, 6]}
    assert config == {"value": {"lr": 0.1, "layers": [64, 32], "name": "net"}, "type": "dict"}
    assert numbers == {"value": [1, 2.5, "three", None, True], "type": "list"}
    assert one_file == {"array": single.tolist(), "dtype": "int64", "shape": [2, 2]}
    # Said once, at INFO, with the reason, however many artifacts were loaded.
    fallbacks = [line for line in log.splitlines() if "loading its artifacts through the server" in line]
    assert len(fallbacks) == 1, log
    assert fallbacks[0].startswith("INFO ")
    assert live_server.url in fallbacks[0]


def test_a_damaged_version_raises_naming_its_uri_through_the_server_too(live_server, owner, tmp_path):
    damaged = save_value("damaged", {"a": 1})
    data = Path(damaged.uri) / "data.json"
    data.write_bytes(data.read_bytes().replace(b"1", b"2"))  # same size, other bytes
    missing = save_value("missing", [1, 2])
    shutil.rmtree(missing.uri)

    results, _ = _load_in_hidden_process(live_server, owner, tmp_path, [damaged, missing])

    for version in (damaged, missing):
        result = results[str(version.id)]
        assert result["error"] == "ArtifactIntegrityError", result
        assert version.uri in result["message"]


def test_with_access_store_the_client_does_not_fall_back(live_server, owner, tmp_path):
    version = save_value("numbers", [1, 2, 3])

    results, log = _load_in_hidden_process(live_server, owner, tmp_path, [version], access="store")

    result = results[str(version.id)]
    assert "error" in result
    assert version.uri in result["message"]
    assert "through the server" not in log


def test_with_access_server_a_client_that_sees_the_store_still_downloads(live_server, sdk_env, monkeypatch):
    from pipelines.client import Client

    array = np.linspace(0, 1, 11)
    version = save_value("curve", array)
    monkeypatch.setenv("PIPELINES_ARTIFACT_ACCESS", "server")
    downloads = []
    original = Client.download_artifact_version

    def counting(self, *args, **kwargs):
        downloads.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Client, "download_artifact_version", counting)

    loaded = Client().get_artifact_version(version.id).load()

    assert downloads == [version.id]
    np.testing.assert_array_equal(loaded, array)


def test_a_client_without_s3_credentials_loads_through_the_server(live_server, owner, tmp_path, settings, s3_store_url):
    settings.PIPELINES = {**settings.PIPELINES, "ARTIFACT_STORE": s3_store_url}
    array = np.arange(10, dtype=np.int64) ** 2
    versions = [save_value("squares", array), save_value("config", {"layers": [3, 2]})]
    assert versions[0].uri.startswith("s3://")

    results, log = _load_in_hidden_process(live_server, owner, tmp_path, versions, hide=False)

    assert results[str(versions[0].id)] == {"array": array.tolist(), "dtype": "int64", "shape": [10]}
    assert results[str(versions[1].id)] == {"value": {"layers": [3, 2]}, "type": "dict"}
    fallbacks = [line for line in log.splitlines() if "loading its artifacts through the server" in line]
    assert len(fallbacks) == 1, log
    assert s3_store_url in fallbacks[0]
