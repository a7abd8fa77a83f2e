"""The demo's child processes: the web server and the worker, where they listen, the
environment they share with the demo, and waiting until they are ready."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from config.env import BASE_DIR, env
from pipelines.selectors import workers_alive
from pipelines.supervisor import Child, Supervisor, http_status

WEB_READY_TIMEOUT = 30.0
WORKER_READY_TIMEOUT = 60.0
LOGIN_PATH = "/accounts/login/"


def default_port() -> int:
    try:
        return env.int("PIPELINES_DEMO_PORT", default=8000)
    except ValueError:
        raise CommandError(
            f"PIPELINES_DEMO_PORT must be a port number, not {env.str('PIPELINES_DEMO_PORT')!r}."
        ) from None


def ensure_port_free(addr: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # runserver sets SO_REUSEADDR as well, so a port left in TIME_WAIT by an earlier
        # run is free for it and must not count as taken here.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((addr, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"Port {port} on {addr} is already in use. Pass --port (or set PIPELINES_DEMO_PORT) "
                    "to use another one, e.g. `python manage.py demo --port 8001`."
                ) from None
            raise CommandError(f"Cannot listen on {addr}:{port}: {exc.strerror}. Check --addr and --port.") from None


def url_host(addr: str) -> str:
    """The host to put in URLs for a listen address (a wildcard address means this machine)."""
    if addr in ("0.0.0.0", ""):  # noqa: S104  (a comparison, not a bind)
        return "127.0.0.1"
    if addr == "::":
        return "[::1]"
    return f"[{addr}]" if ":" in addr else addr


def runserver_addrport(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    # The children must use the same settings and the same data folder (database,
    # broker folder, artifacts) as this process, whatever their working directory.
    environment["DJANGO_SETTINGS_MODULE"] = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local")
    environment["PIPELINES_DATA_DIR"] = str(Path(settings.DATA_DIR).resolve())
    # Their output goes to log files; unbuffered keeps the logs current for `tail -f`.
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def start_web(supervisor: Supervisor, *, addr: str, port: int, env: dict[str, str], log_path: Path) -> Child:
    argv = [sys.executable, str(BASE_DIR / "manage.py"), "runserver", runserver_addrport(addr, port), "--noreload"]
    return supervisor.start("web server", argv, env=env, log_path=log_path, cwd=BASE_DIR)


def start_worker(supervisor: Supervisor, *, concurrency: int, env: dict[str, str], log_path: Path) -> Child:
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", str(concurrency)]
    return supervisor.start("worker", argv, env=env, log_path=log_path, cwd=BASE_DIR)


def start_beat(supervisor: Supervisor, *, env: dict[str, str], log_path: Path) -> Child:
    """The scheduler: Celery beat with its schedule in the database (settings name the
    scheduler, `pipelines.beat`), which itself starts the runs schedules have due."""
    argv = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info"]
    return supervisor.start("scheduler", argv, env=env, log_path=log_path, cwd=BASE_DIR)


def wait_for_web(supervisor: Supervisor, server_url: str) -> int | None:
    """The status the login page answers with once the server answers; None if it
    did not within WEB_READY_TIMEOUT."""
    answered: list[int] = []

    def answers() -> bool:
        status = http_status(server_url + LOGIN_PATH)
        if status is not None:
            answered.append(status)
        return status is not None

    return answered[-1] if supervisor.wait_until(answers, timeout=WEB_READY_TIMEOUT) else None


def wait_for_worker(supervisor: Supervisor) -> bool:
    # A worker counts once it has written a heartbeat row, which it does when ready.
    return supervisor.wait_until(lambda: workers_alive() > 0, timeout=WORKER_READY_TIMEOUT)
