"""A broker that loses what it was handed strands no run, and no step runs twice.

Everything here runs on processes of its own, so the session's worker and broker are
left alone: a web server (gunicorn, as deployed) and a worker on a SQLite database of
their own, and a broker of their own. Runs are in flight when the broker loses its
messages: a private Redis (`redis-server` without persistence, on a free port) killed
(SIGKILL) and started again empty on the same port, or the step queue purged in a
private RabbitMQ virtual host (a stand-in for a RabbitMQ that lost its queue: a node
restart takes too long for a test). Every run must end within the bound the README
states, and the file every step execution appends to must list each step once.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from pipelines.supervisor import Supervisor, http_status, signal_group, start_process
from tests.integration import broker_loss_pipelines as chain

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QUEUE = "broker-loss"
RUNS = 30
STEP_SECONDS = 0.3
CONCURRENCY = 4
# The knobs the bound is made of, small so the test takes seconds (see the README:
# a lost message is sent again within REQUEUE_MAX_INTERVAL + REAPER_INTERVAL).
REQUEUE_AFTER = 2.0
REQUEUE_MAX_INTERVAL = 4.0
REAPER_INTERVAL = 0.5  # config.settings.test


GUNICORN = [sys.executable, "-m", "gunicorn", "config.wsgi", "-k", "gthread", "--threads", "8", "-w", "1"]
WORKER = [
    *(sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--pool=prefork"),
    *(f"--concurrency={CONCURRENCY}", "--without-gossip", "--without-mingle"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start_redis(port: int, folder: Path) -> subprocess.Popen:
    # No RDB snapshots, no append-only file: a restart comes back empty, as a Redis
    # run as a pure cache (or one that lost its disk) does.
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(folder)]
    process = start_process(argv, env=dict(os.environ), log_path=folder / "redis.log", append=True)
    deadline = time.monotonic() + 10
    while not _redis_answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"redis-server did not start:\n{(folder / 'redis.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return process


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class RedisThatRestartsEmpty:
    """A Redis of the test's own; losing messages is killing it and starting it again."""

    def __init__(self, folder: Path, *, down_for: float) -> None:
        self.folder = folder
        self.down_for = down_for
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = _start_redis(self.port, folder)

    def lose_messages(self) -> None:
        signal_group(self.process, signal.SIGKILL)
        self.process.wait()
        # While it is away, sends fail: steps that end then cannot queue the next ones.
        time.sleep(self.down_for)
        self.process = _start_redis(self.port, self.folder)

    def close(self) -> None:
        signal_group(self.process, signal.SIGKILL)
        self.process.wait()


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)


class RabbitVhostThatLosesItsQueue:
    """A virtual host of its own on the machine's RabbitMQ; losing messages is purging
    the step queue. Restarting RabbitMQ takes too long for a test, and a purge drops
    what a queue lost with its node would: every message not yet delivered."""

    def __init__(self) -> None:
        self.vhost = f"broker-loss-{uuid.uuid4().hex[:8]}"
        for args in (("add_vhost", self.vhost), ("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")):
            done = _rabbitmqctl(*args)
            assert done.returncode == 0, done.stderr
        self.url = f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"

    def lose_messages(self) -> None:
        done = _rabbitmqctl("purge_queue", "-p", self.vhost, QUEUE)
        assert done.returncode == 0, done.stderr

    def close(self) -> None:
        _rabbitmqctl("delete_vhost", self.vhost)


def _rabbitmq_usable() -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            pass
        return _rabbitmqctl("status").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH (a private Redis)")
@pytest.mark.parametrize("down_for", [0.0, 5.0], ids=["restarted-at-once", "away-for-5-s"])
def test_runs_in_flight_survive_redis_restarting_empty_and_no_step_runs_twice(tmp_path, monkeypatch, down_for):
    broker = RedisThatRestartsEmpty(tmp_path, down_for=down_for)
    try:
        _runs_survive_losing_messages(tmp_path, monkeypatch, broker)
    finally:
        broker.close()


@pytest.mark.skipif(
    not _rabbitmq_usable(), reason="needs a RabbitMQ on 127.0.0.1:5672 that rabbitmqctl can manage (guest user)"
)
def test_runs_in_flight_survive_their_rabbitmq_queue_being_purged_and_no_step_runs_twice(tmp_path, monkeypatch):
    broker = RabbitVhostThatLosesItsQueue()
    try:
        _runs_survive_losing_messages(tmp_path, monkeypatch, broker)
    finally:
        broker.close()


def _runs_survive_losing_messages(tmp_path, monkeypatch, broker) -> None:
    data = tmp_path / "data"
    data.mkdir()
    web_port = _free_port()
    executions = tmp_path / "executions.txt"
    server_url = f"http://127.0.0.1:{web_port}"
    # Nothing of the session's configuration leaks in: its own database, broker and folder.
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PIPELINES_", "DATABASE_", "CELERY_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        PIPELINES_DATA_DIR=str(data),
        DATABASE_URL=f"sqlite:///{data / 'db.sqlite3'}",
        CELERY_BROKER_URL=broker.url,
        PIPELINES_QUEUE=QUEUE,
        PIPELINES_REQUEUE_AFTER=str(REQUEUE_AFTER),
        PIPELINES_REQUEUE_MAX_INTERVAL=str(REQUEUE_MAX_INTERVAL),
        PIPELINES_SERVER_URL=server_url,
        DJANGO_SUPERUSER_PASSWORD="broker-loss-admin-pw",  # a throwaway test account
        PYTHONUNBUFFERED="1",
        **{chain.EXECUTIONS_FILE_ENV: str(executions)},
    )
    with Supervisor(stop_timeout=20, poll_interval=0.1) as supervisor:
        _manage(env, "migrate", "--noinput")
        _manage(env, "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
        token = _manage(env, "create_api_token", "admin").strip()
        web = supervisor.start(
            "web server", [*GUNICORN, "-b", f"127.0.0.1:{web_port}"], env=env, log_path=tmp_path / "web.log", cwd=REPO
        )
        worker = supervisor.start("worker", WORKER, env=env, log_path=tmp_path / "worker.log", cwd=REPO)
        assert supervisor.wait_until(lambda: http_status(server_url + "/accounts/login/") == 200, timeout=60), (
            web.tail()
        )
        assert supervisor.wait_until(lambda: b"ready." in worker.log_path.read_bytes(), timeout=60), worker.tail()

        monkeypatch.setenv("PIPELINES_SERVER_URL", server_url)
        monkeypatch.setenv("PIPELINES_API_TOKEN", token)
        started = time.monotonic()
        runs = [chain.chain_pipeline.with_options(wait=False)(seconds=STEP_SECONDS) for _ in range(RUNS)]

        # Messages wait in the broker (30 runs, 4 at a time) when it loses them.
        time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))
        broker.lose_messages()
        lost_at = time.monotonic()

        # The bound: a lost message is sent again within REQUEUE_MAX_INTERVAL plus a
        # reaper pass after the broker is back; then the work left, which takes the
        # steps' own time over the pool, plus room for a busy two-core machine.
        work = RUNS * 3 * STEP_SECONDS / CONCURRENCY
        bound = REQUEUE_MAX_INTERVAL + REAPER_INTERVAL + work + 30
        pending = list(runs)
        while pending and time.monotonic() - lost_at < bound:
            supervisor.checkpoint()  # the web server and the worker are still up
            pending = [run for run in pending if not run.refresh().finished]
            time.sleep(0.5)
        ended_in = time.monotonic() - lost_at
        worker_log = worker.log_path.read_text(errors="replace")

    assert not pending, (
        f"{len(pending)} run(s) still not finished {bound:.0f} s after the broker lost its messages: "
        f"{[(run.name, run.status, {n: s.status for n, s in run.steps.items()}) for run in pending]}\n"
        f"worker log:\n{worker_log[-3000:]}"
    )
    failed = [run for run in runs if run.status != "completed"]
    assert not failed, [(run.name, run.status, {n: s.error[-500:] for n, s in run.steps.items()}) for run in failed[:3]]
    assert ended_in < bound
    lines = executions.read_text().splitlines()
    per_step = Counter((run_name, step_name) for run_name, step_name, _attempt in (line.split() for line in lines))
    assert len(per_step) == RUNS * 3
    assert set(per_step.values()) == {1}, [key for key, count in per_step.items() if count > 1]
    # The loss was real: the worker's reaper had to send again messages the broker had taken.
    assert re.search(r"Reaper: .*resent=\[\d", worker_log), worker_log[-3000:]
