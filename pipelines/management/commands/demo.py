"""`python manage.py demo`: the whole product on one machine, until Ctrl-C.

Migrates, makes sure an admin exists, writes `client.json` for the SDK, starts the web
server and a Celery worker as child processes, waits until both answer, runs the
examples and prints where everything is. Ctrl-C (SIGINT) or SIGTERM stops the
children cleanly. The parts live in `pipelines.demo`; this is the order they run in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.env import env
from pipelines.demo import processes
from pipelines.demo.examples import run_examples
from pipelines.demo.output import Printer
from pipelines.demo.setup import (
    DEMO_SECRET_NAME,
    AdminAccount,
    ensure_admin,
    ensure_demo_secret,
    issue_client_config,
)
from pipelines.supervisor import ChildExited, StopRequested, Supervisor

STOP_TIMEOUT = 10.0


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
        out = Printer(self.stdout, self.style)
        addr: str = options["addr"]
        port: int = options["port"] or processes.default_port()
        server_url = f"http://{processes.url_host(addr)}:{port}"

        try:
            processes.ensure_port_free(addr, port)
            self.prepare_database(out)
            account = self.prepare_admin(out)
            if ensure_demo_secret(user=account.user):
                out.say(f"Created the secret {DEMO_SECRET_NAME!r} (made-up values) for the secrets example.")
            client_path = issue_client_config(
                user=account.user, server_url=server_url, data_dir=Path(settings.DATA_DIR)
            )
        except KeyboardInterrupt:
            raise CommandError("Interrupted before anything was started.", returncode=130) from None
        out.say(f"Wrote {client_path} (server URL and an API token for {account.username}, mode 0600).")

        supervisor = Supervisor(stop_timeout=STOP_TIMEOUT)
        supervisor.install_signal_handlers()
        failure: str | None = None
        try:
            failure = self.run_demo(
                supervisor,
                out,
                options,
                addr=addr,
                port=port,
                server_url=server_url,
                account=account,
                client_path=client_path,
            )
        except StopRequested as stop:
            out.say(f"\nReceived {stop}; stopping.")
        except ChildExited as exited:
            failure = out.child_exited(exited.child)
        finally:
            self.stop(supervisor, out)
        if failure:
            raise CommandError(failure)

    def run_demo(
        self,
        supervisor: Supervisor,
        out: Printer,
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
        environment = processes.child_environment()
        web = processes.start_web(supervisor, addr=addr, port=port, env=environment, log_path=logs / "web.log")
        out.say(f"Started the web server on {addr}:{port}.")
        concurrency = options["concurrency"]
        worker = processes.start_worker(
            supervisor, concurrency=concurrency, env=environment, log_path=logs / "worker.log"
        )
        out.say(f"Started a worker with concurrency {concurrency}.")
        beat = processes.start_beat(supervisor, env=environment, log_path=logs / "beat.log")
        out.say("Started the scheduler (celery beat), which starts the runs of schedules.")
        out.say(f"Their output goes to {web.log_path}, {worker.log_path} and {beat.log_path}.")

        status = processes.wait_for_web(supervisor, server_url)
        if status is None:
            out.log_of(web.log_path)
            raise CommandError(f"The {web.name} did not answer within {processes.WEB_READY_TIMEOUT:.0f} s.")
        if status != 200:
            # It answers, but a 400 usually means the host is not in DJANGO_ALLOWED_HOSTS.
            out.warning(
                f"The web server answered {processes.LOGIN_PATH} with HTTP {status}; "
                "check DJANGO_ALLOWED_HOSTS and the web log."
            )
        out.say(f"The web server answers at {server_url}/.")
        if not processes.wait_for_worker(supervisor):
            out.log_of(worker.log_path)
            raise CommandError(f"The {worker.name} did not report in within {processes.WORKER_READY_TIMEOUT:.0f} s.")
        out.say("The worker is ready.")

        failed = []
        if not options["no_examples"]:
            example_env = {
                **environment,
                "PIPELINES_SERVER_URL": server_url,
                "PIPELINES_API_TOKEN": json.loads(client_path.read_text())["api_token"],
            }
            results = run_examples(supervisor, out, env=example_env, log_dir=logs / "examples")
            failed = [result for result in results if not result.ok]
        if options["exit_after_examples"]:
            if failed:
                return f"{len(failed)} example(s) failed: " + ", ".join(r.path.name for r in failed)
            out.say("All examples passed; stopping (--exit-after-examples).")
            return None

        out.banner(server_url=server_url, account=account, client_path=client_path, logs=logs)
        while True:  # until Ctrl-C, SIGTERM or a child's death ends it through an exception
            supervisor.sleep(0.5)

    def prepare_database(self, out: Printer) -> None:
        out.say("Applying migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        # STATIC_ROOT lives under the data folder and whitenoise serves it from there.
        call_command("collectstatic", interactive=False, verbosity=0)

    def prepare_admin(self, out: Printer) -> AdminAccount:
        username = env.str("PIPELINES_ADMIN_USER", default="admin")
        password = env.str("PIPELINES_ADMIN_PASSWORD", default="") or None
        account = ensure_admin(username=username, password=password)
        out.say(f"{'Created' if account.created else 'Using'} superuser {account.login_hint()}.")
        return account

    def stop(self, supervisor: Supervisor, out: Printer) -> None:
        if not supervisor.children:
            return
        out.say("Stopping the web server, the worker and the scheduler...")
        for name in supervisor.stop_all():
            out.warning(f"The {name} did not stop within {STOP_TIMEOUT:.0f} s and was killed.")
        out.say("Stopped.")
