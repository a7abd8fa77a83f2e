"""Worker health on real processes.

- A worker pointed at a database that is unmigrated, or that does not answer, exits
  non-zero within seconds with one line saying what to do (it used to keep running,
  logging an error every few seconds).
- `manage.py healthcheck --worker` exits 0 while a worker on this machine has a fresh
  heartbeat, 1 once it is gone; `healthcheck` alone checks what /readyz checks.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from pipelines.models import WorkerHeartbeat
from pipelines.supervisor import start_process, stop_processes
from tests.integration.conftest import start_worker, stop_worker

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
EXIT_WITHIN = 30.0  # seconds: interpreter, Django and Celery start-up on a busy CI machine
SECRET_PASSWORD = "pw-never-in-logs-4821"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker_exit(tmp_path: Path, database_url: str) -> tuple[int | None, float, str]:
    """Start a worker on `database_url` (and a broker of its own); its exit status,
    how long it lived, and its output."""
    data = tmp_path / "data"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PIPELINES_DATA_DIR": str(data),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "filesystem://",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PIPELINES_USE_TEST_DATABASE", None)
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=1", "--loglevel=INFO"]
    log = tmp_path / "worker.log"
    started = time.monotonic()
    process = start_process(command, cwd=REPO, env=env, log_path=log)
    try:
        process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        pass
    finally:
        lived = time.monotonic() - started
        stop_processes([process], timeout=5)
    return process.returncode if lived < EXIT_WITHIN else None, lived, log.read_text(errors="replace")


def test_a_worker_on_an_unmigrated_database_exits_non_zero_saying_to_migrate(tmp_path):
    status, lived, output = _worker_exit(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    assert status not in (None, 0), f"the worker kept running for {lived:.0f} s:\n{output[-3000:]}"
    assert "not starting the worker" in output
    assert "migration(s) not applied" in output
    assert "python manage.py migrate" in output
    assert "ready." not in output


def test_a_worker_whose_database_does_not_answer_exits_non_zero_without_showing_the_password(tmp_path):
    url = f"postgres://pipelines:{SECRET_PASSWORD}@127.0.0.1:{_free_port()}/pipelines"

    status, lived, output = _worker_exit(tmp_path, url)

    assert status not in (None, 0), f"the worker kept running for {lived:.0f} s:\n{output[-3000:]}"
    assert "not starting the worker: the database does not answer (OperationalError)" in output
    assert "DATABASE_URL" in output
    assert SECRET_PASSWORD not in output


def _healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PIPELINES_DATA_DIR": str(settings.DATA_DIR),
        "PIPELINES_USE_TEST_DATABASE": "1",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "healthcheck", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_healthcheck_worker_is_true_with_a_live_worker_and_false_once_it_stopped(running_worker, tmp_path):
    assert _healthcheck("--worker").returncode == 0  # the session's worker runs on this machine

    before = set(WorkerHeartbeat.objects.values_list("hostname", flat=True))
    worker = start_worker(tmp_path / "own.log", concurrency=1)
    try:
        deadline = time.monotonic() + 20
        while not (mine := set(WorkerHeartbeat.objects.values_list("hostname", flat=True)) - before):
            assert time.monotonic() < deadline, "the new worker never heartbeated"
            time.sleep(0.1)
        (hostname,) = mine
        alive = _healthcheck("--worker", "--hostname", hostname)
        assert alive.returncode == 0, alive.stderr
        assert hostname in alive.stdout
    finally:
        stop_worker(worker)

    gone = _healthcheck("--worker", "--hostname", hostname)
    assert gone.returncode == 1
    assert f"no live worker {hostname}" in gone.stderr


def test_healthcheck_checks_what_readyz_checks(running_worker):
    done = _healthcheck()

    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("database", "migrations", "broker", "artifact_store"):
        assert f"{name}: ok" in done.stdout


def test_celery_inspect_ping_gets_the_workers_pong(running_worker):
    # The filesystem broker (the embedded default) broadcasts through its control
    # folder, so Celery's remote control works as with Redis or RabbitMQ.
    hostname = WorkerHeartbeat.objects.order_by("-last_seen_at").values_list("hostname", flat=True).first()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PIPELINES_DATA_DIR": str(settings.DATA_DIR),
        "PIPELINES_USE_TEST_DATABASE": "1",
    }

    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "inspect", "ping", "-d", hostname, "--timeout", "10"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{hostname}: OK" in done.stdout
    assert "pong" in done.stdout
