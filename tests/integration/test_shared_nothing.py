"""Shared nothing: a web server and two workers that share no disk, as on three machines.

Deployed as the README's scale-out section says: the environment of
deploy/pipelines.env (production settings; secrets as variables), `manage.py
migrate`, `createsuperuser`, `create_api_token` and `collectstatic`, then the
ExecStart of deploy/systemd's web unit (gunicorn) and worker unit once per queue,
on a PostgreSQL database of the test's own, the broker and an S3 store (moto's
server). Each process, and the store-less Client, runs in mount and UTS namespaces
of its own: an empty tmpfs over its data folder (keys, static files, temporary
files, any local fallback) and a host name of its own. The data folder has the
same path everywhere, as in the deployment's one environment file, so a file one
process wrote and another expected to read would be missing there: only
PostgreSQL, the broker and the store connect them.

A run whose steps alternate between worker A (`-Q pipelines`) and worker B
(`-Q gpu`) passes an array and a dict from one to the other; the dashboard
previews and downloads every output through the web server; a Client without the
store's credentials loads every output through the server.

It needs PostgreSQL and Redis or RabbitMQ (DATABASE_URL, CELERY_BROKER_URL) and is
skipped on SQLite or the filesystem broker, which are themselves a shared disk.
With PIPELINES_REQUIRE_SHARED_NOTHING set (CI's shared-nothing pass), any reason to
skip fails it instead.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import numpy as np
import pytest

from pipelines.sdk.responses import PipelineRun
from pipelines.supervisor import Child, Supervisor, http_status
from tests.integration import shared_nothing_pipelines as sn
from tests.live_helpers import REPO
from tests.s3_server import S3Server, free_port

pytestmark = pytest.mark.integration

REQUIRE_ENV = "PIPELINES_REQUIRE_SHARED_NOTHING"
START_TIMEOUT = 180  # two cores shared with other work: migrate and a cold gunicorn take a while
RUN_TIMEOUT = 240
ADMIN = ("admin", "shared-nothing-admin-pw")  # a throwaway account of a throwaway database
PY = sys.executable
DEPLOY = REPO / "deploy"
# Redis: a database number of the test's own, so that a worker of another test
# session on the same Redis cannot take this deployment's messages (nor it theirs).
REDIS_DB = 15


def _cannot_run(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"The shared-nothing test must run here ({REQUIRE_ENV} is set), but: {reason}")
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def _namespace_flags() -> list[str]:
    # Root makes namespaces directly; anyone else through a user namespace of their own.
    return ["--mount", "--uts"] + ([] if os.geteuid() == 0 else ["--map-root-user"])


def _check_prerequisites() -> tuple[str, str]:
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not broker_url.startswith(
        ("redis://", "amqp://")
    ):
        _cannot_run(
            "needs PostgreSQL (DATABASE_URL=postgres://...) and Redis or RabbitMQ (CELERY_BROKER_URL=redis://... "
            "or amqp://...): SQLite and the filesystem broker are themselves a shared disk"
        )
    broker_port = 6379 if broker_url.startswith("redis") else 5672
    for name, url, port in (("PostgreSQL", database_url, 5432), ("The broker", broker_url, broker_port)):
        if not _reachable(url, port):
            _cannot_run(f"{name} at {urlparse(url).hostname}:{urlparse(url).port or port} is not reachable")
    if sys.platform != "linux" or shutil.which("unshare") is None or shutil.which("hostname") is None:
        _cannot_run("needs Linux with unshare(1) and hostname(1): each process gets mount and UTS namespaces")
    if broker_url.startswith("redis"):
        broker_url = urlunparse(urlparse(broker_url)._replace(path=f"/{REDIS_DB}"))
    return database_url, broker_url


class FreshDatabase:
    """An empty PostgreSQL database of the test's own on the DATABASE_URL server,
    migrated by the deployment itself as the README says, dropped at the end."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.name = f"pipelines_shared_nothing_{uuid.uuid4().hex[:12]}"
        parsed = urlparse(url)
        self.url = urlunparse(parsed._replace(path=f"/{self.name}"))
        self._admin_url = urlunparse(parsed._replace(path="/postgres", scheme="postgresql"))
        with psycopg.connect(self._admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self._admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _own_machine(hostname: str, data: Path) -> list[str]:
    """The argv prefix that runs a command as on a machine of its own: mount and UTS
    namespaces, an empty tmpfs over the data folder (TMPDIR below it), a host name."""
    script = 'mount -t tmpfs tmpfs "$1" && mkdir "$1/tmp" && hostname "$2" && shift 2 && exec "$@"'
    return ["unshare", *_namespace_flags(), "sh", "-c", script, "sh", str(data), hostname]


def _check_namespaces(data: Path) -> None:
    probe = subprocess.run([*_own_machine("probe", data), "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        flags = " ".join(_namespace_flags())
        _cannot_run(f"unshare {flags} with a tmpfs mount and a host name is not allowed here: {probe.stderr}")


def _then(setup: str, argv: list[str]) -> list[str]:
    """Run the shell command `setup`, then exec `argv` (its pid stays the one started)."""
    return ["sh", "-c", f'{setup} && exec "$@"', "sh", *argv]


def _unit_command(unit: str, *, instance: str = "", smaller: dict[str, str]) -> list[str]:
    """The ExecStart of a unit in deploy/systemd/ (the README's), as this checkout runs
    it: its program from this virtualenv, `%i` the instance, systemd's `%%` unescaped,
    and the values of the options in `smaller` swapped (fewer processes, another port)."""
    lines = (DEPLOY / "systemd" / unit).read_text().splitlines()
    (exec_start,) = (line.removeprefix("ExecStart=") for line in lines if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.replace("%i", instance).replace("%%", "%"))
    argv[0] = str(Path(PY).parent / Path(argv[0]).name)
    for option, value in smaller.items():
        argv[argv.index(option) + 1] = value  # a ValueError here: the unit changed, update the test
    return argv


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@dataclass
class Deployment:
    server_url: str
    token: str
    store_url: str
    data: Path  # the data folder's path on every "machine"; each mounts its own tmpfs there
    s3: S3Server
    children: dict[str, Child]
    run: PipelineRun


def _deployment_env(
    data: Path, *, database_url: str, broker_url: str, store_url: str, server_url: str
) -> dict[str, str]:
    """deploy/pipelines.env (the README's one environment file) with this deployment's
    addresses. Its secrets are given as variables rather than *_FILE files: each
    machine's data folder is private, and no key file is shared."""
    from cryptography.fernet import Fernet

    documented = dict(
        line.split("=", 1) for line in (DEPLOY / "pipelines.env").read_text().splitlines() if line[:1].isalpha()
    )
    ours = {
        "PIPELINES_DATA_DIR": str(data),
        "DJANGO_SECRET_KEY": f"shared-nothing-{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CELERY_BROKER_URL": broker_url,
        "PIPELINES_ARTIFACT_STORE": store_url,
        "PIPELINES_SERVER_URL": server_url,
        "PIPELINES_SOURCE_ROOT": str(REPO),
        # Plain http on the loopback: no proxy ends TLS here (README, "HTTPS behind a proxy").
        "DJANGO_SECURE_SSL_REDIRECT": "false",
    }
    secrets = {name.removesuffix("_FILE") for name in documented if name.endswith("_FILE")}
    assert secrets <= ours.keys(), f"deploy/pipelines.env has secrets this test does not give: {secrets - ours.keys()}"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(data),
        "TMPDIR": str(data / "tmp"),
        "PYTHONUNBUFFERED": "1",
        **{name: value for name, value in documented.items() if not name.endswith("_FILE")},
        **ours,
    }


@pytest.fixture(scope="module")
def deployment(request, tmp_path_factory):
    database_url, broker_url = _check_prerequisites()
    s3_server = request.getfixturevalue("s3_server")  # started only for a test that runs
    root = tmp_path_factory.mktemp("shared-nothing")
    data, logs = root / "data", root / "logs"
    data.mkdir()
    logs.mkdir()
    _check_namespaces(data)
    port = free_port()
    server_url = f"http://127.0.0.1:{port}"
    store_url = f"s3://{s3_server.create_bucket()}/shared-nothing"
    database = FreshDatabase(database_url)
    env = _deployment_env(
        data, database_url=database.url, broker_url=broker_url, store_url=store_url, server_url=server_url
    )
    with_store = {**env, **s3_server.environ}
    try:
        with Supervisor(stop_timeout=30, poll_interval=0.2) as supervisor, pytest.MonkeyPatch.context() as patch:
            # README step 3, on a machine of its own: migrate, the first user, their token.
            py = shlex.quote(PY)
            # manage.py checks the store too (deploy/manage.sh reads aws.env as the units do).
            admin_env = {**with_store, "DJANGO_SUPERUSER_PASSWORD": ADMIN[1]}
            admin = subprocess.run(
                [
                    *_own_machine("admin", data),
                    *_then(
                        f"{py} manage.py migrate --noinput -v 0 && {py} manage.py createsuperuser --noinput "
                        f"--username {ADMIN[0]} --email admin@example.com",
                        [PY, "manage.py", "create_api_token", ADMIN[0], "--name", "shared-nothing"],
                    ),
                ],
                cwd=REPO,
                env=admin_env,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                check=False,
            )
            assert admin.returncode == 0, f"migrate/createsuperuser/create_api_token failed:\n{admin.stderr[-4000:]}"
            token = admin.stdout.strip().splitlines()[-1]

            children = {
                "web": supervisor.start(
                    "web server",
                    [
                        *_own_machine("web", data),
                        *_then(
                            f"{py} manage.py collectstatic --noinput -v 0",
                            _unit_command(
                                "pipelines-web.service",
                                smaller={"-w": "2", "--threads": "8", "-b": f"127.0.0.1:{port}"},
                            ),
                        ),
                    ],
                    env=with_store,
                    log_path=logs / "web.log",
                    cwd=REPO,
                ),
                "worker-a": supervisor.start(
                    "worker A",
                    [
                        *_own_machine("worker-a", data),
                        *_unit_command(
                            "pipelines-worker@.service", instance="pipelines", smaller={"--concurrency": "2"}
                        ),
                    ],
                    env=with_store,
                    log_path=logs / "worker-a.log",
                    cwd=REPO,
                ),
                "worker-b": supervisor.start(
                    "worker B",
                    [
                        *_own_machine("worker-b", data),
                        *_unit_command(
                            "pipelines-worker@.service", instance=sn.GPU_QUEUE, smaller={"--concurrency": "1"}
                        ),
                    ],
                    env=with_store,
                    log_path=logs / "worker-b.log",
                    cwd=REPO,
                ),
            }
            ready = {
                "web": lambda: http_status(f"{server_url}/accounts/login/") == 200,
                "worker-a": lambda: b"ready." in (logs / "worker-a.log").read_bytes(),
                "worker-b": lambda: b"ready." in (logs / "worker-b.log").read_bytes(),
            }
            for name, condition in ready.items():
                assert supervisor.wait_until(condition, timeout=START_TIMEOUT), (
                    f"{name} did not start:\n{_tail(children[name].log_path)}"
                )

            patch.setenv("PIPELINES_SERVER_URL", server_url)
            patch.setenv("PIPELINES_API_TOKEN", token)
            for name in list(os.environ):
                if name.startswith("AWS_"):  # this process submits; it needs no store
                    patch.delenv(name)
            run = sn.shared_nothing_pipeline.with_options(wait=False)()
            found = Deployment(server_url, token, store_url, data, s3_server, children, run)
            try:
                found.run.wait(raise_on_failure=False, timeout=RUN_TIMEOUT)
            except Exception as exc:  # a timeout, no worker for a queue: say what each process logged
                pytest.fail(f"The run did not end: {type(exc).__name__}: {exc}\n{_logs(found)}")
            yield found
            supervisor.checkpoint()  # every process lived to the end
    finally:
        database.drop()


def _logs(deployment: Deployment) -> str:
    return "\n".join(f"--- {name}:\n{_tail(child.log_path, 2500)}" for name, child in deployment.children.items())


def _outputs(deployment: Deployment) -> dict:
    steps = deployment.run.steps
    return {
        "features": steps["make_features"].outputs["features"],
        "model": steps["train"].outputs["model"],
        "scaled": steps["evaluate"].outputs["scaled"],
    }


def _expected() -> dict:
    features = sn.features_value()
    model = sn.model_value(features)
    return {"features": features, "model": model, "scaled": sn.scaled_value(features, model)}


def test_a_run_across_two_workers_that_share_no_disk_completes_each_step_on_its_queue(deployment):
    run = deployment.run
    assert run.status == "completed", (
        {name: (s.status, s.error[-800:]) for name, s in run.steps.items()},
        _logs(deployment),
    )
    placed = {name: (s.queue, s.worker.split(":")[0]) for name, s in run.steps.items()}
    assert placed == {
        "make_features": ("pipelines", "worker-a"),
        "train": ("gpu", "worker-b"),
        "evaluate": ("pipelines", "worker-a"),
    }
    # Worker A reached the web server as a step's Client() (PIPELINES_SERVER_URL, run token).
    assert run.steps["evaluate"].run_metadata["model_trained_on"].value == run.steps["train"].worker
    outputs = _outputs(deployment)
    # The data crossed: B read what A wrote, A read what B wrote.
    assert run.steps["train"].inputs["features"].id == outputs["features"].id
    assert run.steps["evaluate"].inputs["model"].id == outputs["model"].id
    assert run.steps["evaluate"].inputs["features"].id == outputs["features"].id
    for version in outputs.values():
        assert version.uri.startswith(f"{deployment.store_url}/runs/"), version.uri
    # Nothing reached the host's copy of the data folder: every process wrote to its own tmpfs.
    assert list(deployment.data.iterdir()) == []


def _stored_files(deployment: Deployment, uri: str) -> dict[str, bytes]:
    """The version's objects, read straight from the S3 server (relative path: bytes)."""
    import boto3

    s3 = deployment.s3
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.environ["AWS_DEFAULT_REGION"],
        aws_access_key_id=s3.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3.environ["AWS_SECRET_ACCESS_KEY"],
    )
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    listed = client.list_objects_v2(Bucket=bucket, Prefix=key + "/").get("Contents", [])
    if not listed:  # a version that is one file
        return {key.rsplit("/", 1)[-1]: client.get_object(Bucket=bucket, Key=key)["Body"].read()}
    return {
        item["Key"].removeprefix(key + "/"): client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listed
    }


def _downloaded_files(response, uri: str) -> dict[str, bytes]:
    """What a download holds: a folder's files (sent as a zip), or the one file."""
    if response.headers["X-Artifact-Layout"] == "file":
        return {uri.rsplit("/", 1)[-1]: response.content}
    assert response.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}


def _only(files: dict[str, bytes], suffix: str) -> bytes:
    (found,) = (body for name, body in files.items() if name.endswith(suffix))
    return found


def _dashboard_session(server_url: str) -> dict[str, str]:
    """Log in through the login form, as a browser does; the Cookie header to send.

    Production marks its cookies Secure, which requests keeps from plain http: the
    header is built by hand (a browser reaches this server through the https proxy).
    """
    import requests

    page = requests.get(f"{server_url}/accounts/login/", timeout=30)
    assert page.status_code == 200
    csrf_cookie = page.cookies["csrftoken"]
    csrf_field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf_field, page.text[:2000]
    answer = requests.post(
        f"{server_url}/accounts/login/",
        data={"username": ADMIN[0], "password": ADMIN[1], "csrfmiddlewaretoken": csrf_field.group(1)},
        headers={"Cookie": f"csrftoken={csrf_cookie}", "Referer": f"{server_url}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, answer.text[:2000]
    return {"Cookie": f"csrftoken={csrf_cookie}; sessionid={answer.cookies['sessionid']}"}


def _preview_text(page: str) -> str:
    found = re.search(r'<pre class="preview-text">(.*?)</pre>', page, re.S)
    assert found, page[page.find("<h2>Preview</h2>") :][:1500]
    return html.unescape(found.group(1))


def test_the_dashboard_previews_and_downloads_every_output_through_the_web_server(deployment):
    import requests

    assert deployment.run.status == "completed"
    expected = _expected()
    cookie = _dashboard_session(deployment.server_url)
    run_page = requests.get(f"{deployment.server_url}/runs/{deployment.run.id}/", headers=cookie, timeout=60)
    assert run_page.status_code == 200
    for step in deployment.run.steps.values():  # each step's queue and worker, in its row
        assert re.search(rf"<code>{step.queue}</code></td>\s*<td[^>]*>{re.escape(step.worker)}</td>", run_page.text)
    for name, version in _outputs(deployment).items():
        page = requests.get(f"{deployment.server_url}/artifact-versions/{version.id}/", headers=cookie, timeout=60)
        assert page.status_code == 200, (name, page.status_code, page.text[:1000])
        assert f'href="/artifact-versions/{version.id}/download/"' in page.text
        shown = _preview_text(page.text)
        if name == "model":
            assert json.loads(shown) == expected["model"]
        else:
            value = expected[name]
            assert f"<dd>({value.shape[0]}, {value.shape[1]})</dd>" in page.text
            assert f"<code>{value.dtype}</code>" in page.text
            sample = [float(number) for number in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", shown)]
            assert len(sample) >= 8
            np.testing.assert_allclose(sample, value.ravel()[: len(sample)], rtol=0, atol=1e-6)

        stored = _stored_files(deployment, version.uri)
        for url, headers in (
            (f"{deployment.server_url}/artifact-versions/{version.id}/download/", cookie),  # the Download button
            (
                f"{deployment.server_url}/api/v1/artifact-versions/{version.id}/download/",
                {"Authorization": f"Bearer {deployment.token}"},
            ),
        ):
            download = requests.get(url, headers=headers, timeout=60)
            assert download.status_code == 200, (url, download.status_code, download.text[:500])
            files = _downloaded_files(download, version.uri)
            assert files == stored, url  # byte for byte what the worker wrote to the store
            if name != "model":  # the dict's file is the materializer's business; its preview was checked
                np.testing.assert_array_equal(np.load(io.BytesIO(_only(files, ".npy"))), expected[name])


CLIENT_SCRIPT = textwrap.dedent(
    """
    import json, logging, os, sys
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    from pipelines.client import Client

    run = Client().get_pipeline_run(int(sys.argv[1]))
    aws = sorted(name for name in os.environ if name.startswith("AWS_") and name != "AWS_EC2_METADATA_DISABLED")
    results = {"aws_variables": aws}
    for step in run.steps.values():
        for name, version in step.outputs.items():
            value = version.load()
            if type(value).__module__ == "numpy":
                results[name] = {"array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
            else:
                results[name] = {"value": value, "type": type(value).__name__}
    print(json.dumps(results))
    """
)


def test_a_client_without_store_credentials_loads_every_output_through_the_server(deployment):
    assert deployment.run.status == "completed"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(deployment.data),
        "TMPDIR": str(deployment.data / "tmp"),
        "PIPELINES_SERVER_URL": deployment.server_url,
        "PIPELINES_API_TOKEN": deployment.token,
        "AWS_EC2_METADATA_DISABLED": "true",  # nor credentials from an instance's metadata service
    }
    done = subprocess.run(
        [*_own_machine("laptop", deployment.data), PY, "-c", CLIENT_SCRIPT, str(deployment.run.id)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])

    expected = _expected()
    assert results.pop("aws_variables") == []
    assert results == {
        "features": {"array": expected["features"].tolist(), "dtype": "int64", "shape": [sn.ROWS, sn.COLUMNS]},
        "model": {"value": expected["model"], "type": "dict"},
        "scaled": {"array": expected["scaled"].tolist(), "dtype": "float64", "shape": [sn.ROWS, sn.COLUMNS]},
    }
    fallbacks = [line for line in done.stderr.splitlines() if "loading its artifacts through the server" in line]
    assert len(fallbacks) == 1, done.stderr[-4000:]
    assert deployment.store_url in fallbacks[0]
