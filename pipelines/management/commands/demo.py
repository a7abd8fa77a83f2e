"""`python manage.py demo`: the whole product on one machine, until Ctrl-C.

Migrates, makes sure an admin exists, writes `client.json` for the SDK, starts the web
server and a Celery worker as child processes, waits until both answer, runs the
examples and prints where everything is. Ctrl-C (SIGINT) or SIGTERM stops the
children cleanly.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from config.env import BASE_DIR, env
from pipelines.sdk.config import CLIENT_CONFIG_FILE
from pipelines.selectors import workers_alive
from pipelines.services.tokens import api_token_create

DEMO_TOKEN_NAME = "demo (client.json)"  # noqa: S105  (a label, not a secret)
WEB_READY_TIMEOUT = 30.0
WORKER_READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
EXAMPLE_TIMEOUT = 600.0
POLL_INTERVAL = 0.25
TAIL_LINES = 25
LOGIN_PATH = "/accounts/login/"


# --- Setup that needs no child process ---------------------------------------------


class PasswordSource(enum.Enum):
    # Only a generated password is ever printed: a given one is already known to
    # whoever set it, and a kept one is not ours to show.
    GENERATED = "generated"
    GIVEN = "given"
    KEPT = "kept"


@dataclass(frozen=True)
class AdminAccount:
    user: AbstractBaseUser
    username: str
    created: bool
    password_source: PasswordSource
    generated_password: str | None = None

    def login_hint(self) -> str:
        if self.password_source is PasswordSource.GENERATED:
            return f"{self.username} / {self.generated_password}"
        if self.password_source is PasswordSource.GIVEN:
            return f"{self.username} (password from PIPELINES_ADMIN_PASSWORD)"
        return f"{self.username} (existing password kept; set PIPELINES_ADMIN_PASSWORD to change it)"


def ensure_admin(*, username: str, password: str | None) -> AdminAccount:
    """Create the superuser, or bring an existing one to superuser with `password` if given."""
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            if password:
                user = user_model._default_manager.create_superuser(username=username, email="", password=password)
                return AdminAccount(user, username, True, PasswordSource.GIVEN)
            generated = secrets.token_urlsafe(12)
            user = user_model._default_manager.create_superuser(username=username, email="", password=generated)
            return AdminAccount(user, username, True, PasswordSource.GENERATED, generated)
        if password:
            user.set_password(password)
        user.is_active = user.is_staff = user.is_superuser = True
        user.save()
    return AdminAccount(user, username, False, PasswordSource.GIVEN if password else PasswordSource.KEPT)


# --- The secret examples/secrets_in_steps.py reads ------------------------------------

DEMO_SECRET_NAME = "demo_api"  # noqa: S105  (a name, not a secret)
# Made up: the example hands them to a stand-in API that accepts anything.
DEMO_SECRET_VALUES = {"username": "demo-user", "password": "not-a-real-password"}


def ensure_demo_secret(*, user: AbstractBaseUser) -> bool:
    """Create the secret the secrets example reads, unless it exists, and let `user`
    (whose token runs the examples) read secret values. True when it was created."""
    from django.contrib.auth.models import Permission

    from secrets_app.selectors import secret_by_name
    from secrets_app.services import secret_create

    user.user_permissions.add(  # type: ignore[attr-defined]
        Permission.objects.get(content_type__app_label="secrets_app", codename="view_secret_values")
    )
    if secret_by_name(name=DEMO_SECRET_NAME) is not None:
        return False
    secret_create(
        name=DEMO_SECRET_NAME,
        values=DEMO_SECRET_VALUES,
        description="Made-up credentials for examples/secrets_in_steps.py",
        user=user,
    )
    return True


def write_client_config(*, path: Path, server_url: str, api_token: str) -> None:
    """Write client.json for the SDK: owner-only from the first byte, replaced atomically."""
    payload = json.dumps({"server_url": server_url, "api_token": api_token}, indent=2) + "\n"
    # The file holds a live token. Creating a fresh file with mode 0600 (rather than
    # chmod-ing after writing, or reusing an old file whose mode may be looser) means it
    # is never readable by others; the rename means the SDK never reads half a file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            os.fchmod(file.fileno(), 0o600)  # the umask could have narrowed it further
            file.write(payload)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def issue_client_config(*, user: AbstractBaseUser, server_url: str, data_dir: Path) -> Path:
    _, key = api_token_create(user=user, name=DEMO_TOKEN_NAME)
    path = data_dir / CLIENT_CONFIG_FILE
    write_client_config(path=path, server_url=server_url, api_token=key)
    return path


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


def default_port() -> int:
    try:
        return env.int("PIPELINES_DEMO_PORT", default=8000)
    except ValueError:
        raise CommandError(
            f"PIPELINES_DEMO_PORT must be a port number, not {env.str('PIPELINES_DEMO_PORT')!r}."
        ) from None


def url_host(addr: str) -> str:
    """The host to put in URLs for a listen address (a wildcard address means this machine)."""
    if addr in ("0.0.0.0", ""):  # noqa: S104  (a comparison, not a bind)
        return "127.0.0.1"
    if addr == "::":
        return "[::1]"
    return f"[{addr}]" if ":" in addr else addr


def runserver_addrport(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def discover_examples(folder: Path) -> list[Path]:
    # A leading underscore marks helpers and packages (`__init__.py`), not examples.
    return sorted(path for path in folder.glob("*.py") if not path.name.startswith("_"))


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 64 * 1024))
            text = file.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --- Child processes -------------------------------------------------------------


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived; raised at a checkpoint so cleanup runs in one place."""


class ChildExited(Exception):
    def __init__(self, child: Child) -> None:
        super().__init__(f"{child.name} exited with status {child.process.returncode}")
        self.child = child


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


def start_process(argv: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        # A process group of its own: Ctrl-C in the terminal then reaches only the
        # demo, which stops children in order instead of everything dying at once.
        return subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the whole group is gone
        os.killpg(process.pid, signum)


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT) -> list[int]:
    """SIGTERM each process, wait up to `timeout`, SIGKILL its whole group.

    Returns the pids that had to be killed.
    """
    # SIGTERM goes to the group leader only: a Celery worker then shuts its pool down
    # itself, whereas pool processes that get SIGTERM too die mid-shutdown and leave
    # the main process hanging until it is killed.
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = []
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed.append(process.pid)
    # Also the groups whose leader did exit: a worker's pool processes can outlive it.
    for process in processes:
        _signal_group(process, signal.SIGKILL)
    for process in processes:
        process.wait()
    return killed


class Supervisor:
    """Owns the children: starts them, notices a stop request or a death, stops them."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stop_signal: str | None = None

    def install_signal_handlers(self) -> None:
        # The handler only records the signal; the wait loops notice it at their next
        # checkpoint. Raising from the handler could interrupt Popen between starting
        # a child and recording it, and that child would never be stopped.
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signal.Signals(signum).name

    def start(self, name: str, argv: list[str], *, env: dict[str, str], log_path: Path) -> Child:
        child = Child(name, start_process(argv, env=env, log_path=log_path), log_path)
        self.children.append(child)
        return child

    def checkpoint(self) -> None:
        if self.stop_signal:
            raise StopRequested(self.stop_signal)
        for child in self.children:
            if child.process.poll() is not None:
                raise ChildExited(child)

    def sleep(self, seconds: float = POLL_INTERVAL) -> None:
        self.checkpoint()
        time.sleep(seconds)
        self.checkpoint()

    def stop_all(self) -> list[str]:
        """Stops every child; returns the names of those that had to be killed."""
        # Signals that arrive now change nothing: stopping is already under way and
        # bounded by STOP_TIMEOUT.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        killed = stop_processes([child.process for child in self.children])
        return [child.name for child in self.children if child.process.pid in killed]


# --- The command -------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleResult:
    path: Path
    ok: bool
    summary: str
    log_path: Path


class Command(BaseCommand):
    help = (
        "Run the web server and a worker on this machine, run the examples and keep serving "
        "until Ctrl-C. Writes client.json so the SDK finds the server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1", help="Address the web server listens on.")
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="Port of the web server (default: PIPELINES_DEMO_PORT, else 8000).",
        )
        parser.add_argument("--concurrency", type=int, default=4, help="Worker processes (default 4).")
        parser.add_argument("--no-examples", action="store_true", help="Do not run examples/*.py.")
        parser.add_argument(
            "--exit-after-examples",
            action="store_true",
            help="Stop everything after the examples; exit non-zero if one failed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        addr: str = options["addr"]
        port: int = options["port"] or default_port()
        server_url = f"http://{url_host(addr)}:{port}"
        data_dir = Path(settings.DATA_DIR)

        try:
            ensure_port_free(addr, port)
            self.prepare_database()
            account = self.prepare_admin()
            if ensure_demo_secret(user=account.user):
                self.say(f"Created the secret {DEMO_SECRET_NAME!r} (made-up values) for the secrets example.")
            client_path = issue_client_config(user=account.user, server_url=server_url, data_dir=data_dir)
        except KeyboardInterrupt:
            raise CommandError("Interrupted before anything was started.", returncode=130) from None
        self.say(f"Wrote {client_path} (server URL and an API token for {account.username}, mode 0600).")

        supervisor = Supervisor()
        supervisor.install_signal_handlers()
        failure: str | None = None
        try:
            failure = self.run_demo(
                supervisor,
                options,
                addr=addr,
                port=port,
                server_url=server_url,
                account=account,
                client_path=client_path,
            )
        except StopRequested as stop:
            self.say(f"\nReceived {stop}; stopping.")
        except ChildExited as exited:
            failure = self.report_exit(exited.child)
        finally:
            self.stop(supervisor)
        if failure:
            raise CommandError(failure)

    def run_demo(
        self,
        supervisor: Supervisor,
        options: dict[str, Any],
        *,
        addr: str,
        port: int,
        server_url: str,
        account: AdminAccount,
        client_path: Path,
    ) -> str | None:
        """Everything that runs while children are up. Returns a failure message or None."""
        logs = Path(settings.DATA_DIR) / "logs"
        environment = child_environment()
        web = self.start_web(supervisor, addr=addr, port=port, env=environment, log_path=logs / "web.log")
        worker = self.start_worker(
            supervisor, concurrency=options["concurrency"], env=environment, log_path=logs / "worker.log"
        )
        self.say(f"Their output goes to {web.log_path} and {worker.log_path}.")
        self.wait_for_web(supervisor, web, server_url)
        self.wait_for_worker(supervisor, worker)

        failed: list[ExampleResult] = []
        if not options["no_examples"]:
            example_env = {
                **environment,
                "PIPELINES_SERVER_URL": server_url,
                "PIPELINES_API_TOKEN": json.loads(client_path.read_text())["api_token"],
            }
            results = self.run_examples(supervisor, env=example_env, log_dir=logs / "examples")
            failed = [result for result in results if not result.ok]
        if options["exit_after_examples"]:
            if failed:
                return f"{len(failed)} example(s) failed: " + ", ".join(r.path.name for r in failed)
            self.say("All examples passed; stopping (--exit-after-examples).")
            return None

        self.print_banner(server_url=server_url, account=account, client_path=client_path, logs=logs)
        while True:  # until Ctrl-C, SIGTERM or a child's death ends it through an exception
            supervisor.sleep(0.5)

    # Steps, in the order they happen.

    def prepare_database(self) -> None:
        self.say("Applying migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        # STATIC_ROOT lives under the data folder and whitenoise serves it from there.
        call_command("collectstatic", interactive=False, verbosity=0)

    def prepare_admin(self) -> AdminAccount:
        username = env.str("PIPELINES_ADMIN_USER", default="admin")
        password = env.str("PIPELINES_ADMIN_PASSWORD", default="") or None
        account = ensure_admin(username=username, password=password)
        self.say(f"{'Created' if account.created else 'Using'} superuser {account.login_hint()}.")
        return account

    def start_web(self, supervisor: Supervisor, *, addr: str, port: int, env: dict[str, str], log_path: Path) -> Child:
        argv = [sys.executable, str(BASE_DIR / "manage.py"), "runserver", runserver_addrport(addr, port), "--noreload"]
        child = supervisor.start("web server", argv, env=env, log_path=log_path)
        self.say(f"Started the web server on {addr}:{port}.")
        return child

    def start_worker(self, supervisor: Supervisor, *, concurrency: int, env: dict[str, str], log_path: Path) -> Child:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "--concurrency",
            str(concurrency),
        ]
        child = supervisor.start("worker", argv, env=env, log_path=log_path)
        self.say(f"Started a worker with concurrency {concurrency}.")
        return child

    def wait_for_web(self, supervisor: Supervisor, web: Child, server_url: str) -> None:
        deadline = time.monotonic() + WEB_READY_TIMEOUT
        while True:
            status = http_status(server_url + LOGIN_PATH)
            if status is not None:
                break
            if time.monotonic() > deadline:
                raise self.not_ready(web, f"did not answer within {WEB_READY_TIMEOUT:.0f} s")
            supervisor.sleep()
        if status != 200:
            # It answers, but a 400 usually means the host is not in DJANGO_ALLOWED_HOSTS.
            self.say(
                self.style.WARNING(
                    f"The web server answered {LOGIN_PATH} with HTTP {status}; "
                    "check DJANGO_ALLOWED_HOSTS and the web log."
                )
            )
        self.say(f"The web server answers at {server_url}/.")

    def wait_for_worker(self, supervisor: Supervisor, worker: Child) -> None:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        # A worker counts once it has written a heartbeat row, which it does when ready.
        while workers_alive() == 0:
            if time.monotonic() > deadline:
                raise self.not_ready(worker, f"did not report in within {WORKER_READY_TIMEOUT:.0f} s")
            supervisor.sleep()
        self.say("The worker is ready.")

    def run_examples(self, supervisor: Supervisor, *, env: dict[str, str], log_dir: Path) -> list[ExampleResult]:
        examples = discover_examples(BASE_DIR / "examples")
        if not examples:
            self.say("No examples to run.")
        results = []
        for path in examples:
            self.say(f"Example {path.name} ... ", ending="")
            result = run_example(supervisor, path, env=env, log_path=log_dir / f"{path.stem}.log")
            results.append(result)
            if result.ok:
                self.say(self.style.SUCCESS(result.summary))
            else:
                self.say(self.style.ERROR(result.summary))
                self.say(indent(log_tail(result.log_path)))
                self.say(f"  (full output: {result.log_path})")
        if examples:
            passed = sum(result.ok for result in results)
            self.say(f"Examples: {passed} of {len(results)} passed.")
        return results

    def print_banner(self, *, server_url: str, account: AdminAccount, client_path: Path, logs: Path) -> None:
        python = ".venv/bin/python" if (BASE_DIR / ".venv").is_dir() else "python"
        rule = "=" * 72
        lines = [
            rule,
            "  Pipelines is running.",
            "",
            f"  Dashboard    {server_url}/",
            f"  Admin        {server_url}/admin/",
            f"  API docs     {server_url}/api/docs/",
            f"  Log in as    {account.login_hint()}",
            f"  SDK config   {client_path}",
            f"  Logs         {logs}/web.log, {logs}/worker.log",
            "",
            "  Run a pipeline from another terminal (in this folder):",
            f"    {python} examples/quickstart.py",
            "",
            "  Ctrl-C to stop.",
            rule,
        ]
        self.say("\n".join(lines))

    def not_ready(self, child: Child, problem: str) -> CommandError:
        self.say(f"Last lines of {child.log_path}:")
        self.say(indent(log_tail(child.log_path)))
        return CommandError(f"The {child.name} {problem}.")

    def report_exit(self, child: Child) -> str:
        message = f"The {child.name} exited unexpectedly (status {child.process.returncode})."
        self.say(self.style.ERROR(message))
        self.say(f"Last lines of {child.log_path}:")
        self.say(indent(log_tail(child.log_path)))
        return message

    def stop(self, supervisor: Supervisor) -> None:
        if not supervisor.children:
            return
        self.say("Stopping the web server and the worker...")
        for name in supervisor.stop_all():
            self.say(self.style.WARNING(f"The {name} did not stop within {STOP_TIMEOUT:.0f} s and was killed."))
        self.say("Stopped.")

    def say(self, message: str, ending: str = "\n") -> None:
        # Flushed at once: behind `make` or in CI, stdout is a pipe and would otherwise
        # hold progress lines back until the demo ends.
        self.stdout.write(message, ending=ending)
        self.stdout.flush()


def child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    # The children must use the same settings and the same data folder (database,
    # broker folder, artifacts) as this process, whatever their working directory.
    environment["DJANGO_SETTINGS_MODULE"] = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local")
    environment["PIPELINES_DATA_DIR"] = str(Path(settings.DATA_DIR).resolve())
    # Their output goes to log files; unbuffered keeps the logs current for `tail -f`.
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def http_status(url: str) -> int | None:
    """The HTTP status `url` answers with, or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (our own http URL)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def run_example(supervisor: Supervisor, path: Path, *, env: dict[str, str], log_path: Path) -> ExampleResult:
    started = time.monotonic()
    process = start_process([sys.executable, str(path)], env=env, log_path=log_path)
    try:
        while process.poll() is None:
            if time.monotonic() - started > EXAMPLE_TIMEOUT:
                stop_processes([process])
                return ExampleResult(path, False, f"timed out after {EXAMPLE_TIMEOUT:.0f} s", log_path)
            supervisor.sleep()
    finally:
        if process.poll() is None:  # stopped or a child died while it ran
            stop_processes([process], timeout=2.0)
    elapsed = time.monotonic() - started
    if process.returncode == 0:
        return ExampleResult(path, True, f"ok ({elapsed:.1f} s)", log_path)
    return ExampleResult(path, False, f"FAILED (exit status {process.returncode}, {elapsed:.1f} s)", log_path)


def indent(text: str, prefix: str = "  | ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
