"""A real Celery worker process and a live server, for end-to-end and browser tests.

Loaded as a plugin by tests/conftest.py, so the integration and browser tests share
one session worker.

The worker is a separate process started with the test settings, pointed at the
test database pytest-django created and at the same data folder (broker folders,
artifact store) as this process. With DATABASE_URL / CELERY_BROKER_URL set, the
same tests run against PostgreSQL and Redis or RabbitMQ.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings

from pipelines.services.tokens import api_token_create
from pipelines.supervisor import Supervisor, signal_group, start_process, stop_processes

REPO = Path(__file__).resolve().parents[1]
WORKER_READY_TIMEOUT = 60


def _service_reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _require_services() -> None:
    checks = []
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith("postgres"):
        checks.append(("PostgreSQL", database_url, 5432))
    broker_url = settings.CELERY_BROKER_URL
    if broker_url.startswith("redis"):
        checks.append(("Redis", broker_url, 6379))
    if broker_url.startswith("amqp"):
        checks.append(("RabbitMQ", broker_url, 5672))
    for name, url, port in checks:
        if not _service_reachable(url, port):
            message = f"{name} at {urlparse(url).hostname}:{urlparse(url).port or port} is not reachable."
            if os.environ.get("CI"):
                pytest.fail(message + " CI requires it.")
            pytest.skip(message)


def start_worker(
    log_path: Path,
    *,
    queue: str = "pipelines",
    concurrency: int = 4,
    settings_module: str = "config.settings.test",
    extra_args: tuple[str, ...] = (),
) -> subprocess.Popen:
    """A real Celery worker process on the test database and data folder; `extra_args`
    go on its command line (`("-Q", "gpu")`)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "PIPELINES_DATA_DIR": str(settings.DATA_DIR),
        "PIPELINES_USE_TEST_DATABASE": "1",
        "PIPELINES_QUEUE": queue,
        # Where steps reach the API with their run tokens: the live server.
        "PIPELINES_SERVER_URL": os.environ.get("PIPELINES_TEST_SERVER_URL", ""),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "--pool=prefork",
        f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
        "--without-gossip",
        "--without-mingle",
        *extra_args,
    ]
    # Appended to, never truncated: the caller names the file and may have written to it.
    process = start_process(command, cwd=REPO, env=env, log_path=log_path, append=True)
    # Waited on with the supervisor's loop, without making it own the worker: the
    # session fixture and the crash tests stop (or kill) it themselves.
    settled = Supervisor(poll_interval=0.1).wait_until(
        lambda: process.poll() is not None or b"ready." in log_path.read_bytes(), timeout=WORKER_READY_TIMEOUT
    )
    if not settled or process.poll() is not None:
        output = log_path.read_text(errors="replace")[-4000:]
        kill_worker(process)
        pytest.fail(f"The worker did not start:\n{output}")
    process.log_path = log_path  # type: ignore[attr-defined]
    return process


def kill_worker(process: subprocess.Popen, *, sig: int = signal.SIGKILL) -> None:
    """Signal the worker's whole process group (the main process and its pool)."""
    signal_group(process, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        signal_group(process, signal.SIGKILL)
        process.wait()


def stop_worker(process: subprocess.Popen) -> None:
    """Warm shutdown: SIGTERM to the main process, its whole group killed after 20 s."""
    stop_processes([process], timeout=20)


@pytest.hookimpl(trylast=True)  # after pytest-django has ordered the tests by database use
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the session's live worker run last, all together.

    Once started, that worker keeps heartbeating and reaping the test database until
    the session ends: a transactional test run after it could have its retries
    released or its pending artifacts cleaned up under it. The sort is stable, so the
    order within each group is kept.
    """
    items.sort(key=lambda item: "worker_process" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def worker_process(django_db_setup, django_db_blocker, tmp_path_factory, live_server):
    _require_services()
    os.environ["PIPELINES_TEST_SERVER_URL"] = live_server.url
    process = start_worker(tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    stop_worker(process)


@pytest.fixture
def sdk_env(live_server, owner, monkeypatch):
    """Point the SDK at the live server with a fresh token of `owner`."""
    _, key = api_token_create(user=owner)
    monkeypatch.setenv("PIPELINES_SERVER_URL", live_server.url)
    monkeypatch.setenv("PIPELINES_API_TOKEN", key)
    return key


def wait_for_worker_heartbeat(timeout: float = 15.0) -> None:
    from pipelines.selectors import workers_alive

    deadline = time.monotonic() + timeout
    while workers_alive() == 0:
        if time.monotonic() > deadline:
            pytest.fail("The worker never reported a heartbeat.")
        time.sleep(0.1)


@pytest.fixture
def running_worker(worker_process, transactional_db, sdk_env):
    """A live worker whose heartbeat is in the (freshly flushed) test database."""
    wait_for_worker_heartbeat()
    return worker_process
