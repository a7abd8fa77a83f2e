from __future__ import annotations

import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.health import live_workers_here, readiness


class Command(BaseCommand):
    help = (
        "Exit 0 when this installation is ready (what GET /readyz checks: database reachable "
        "and migrated, broker, artifact store), 1 otherwise. With --worker: exit 0 when a "
        "worker on this machine (or the one --hostname names) has a fresh heartbeat. "
        "For container and systemd health checks."
    )
    requires_system_checks: list[str] = []  # a probe: answer fast, even on a half-configured machine
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--worker", action="store_true", help="Check for a live worker instead.")
        parser.add_argument(
            "--hostname",
            help="The worker's Celery node name (`-n`, e.g. pipelines@host1); default: any worker on this machine.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["hostname"] and not options["worker"]:
            raise CommandError("--hostname goes with --worker (it names the worker to look for).")
        if options["worker"]:
            self._worker(options["hostname"])
        else:
            self._ready()

    def _ready(self) -> None:
        results = readiness()
        for result in results:
            line = f"{result.name}: {'ok' if result.ok else 'FAILED'} ({result.latency_ms} ms)"
            self.stdout.write(line if result.ok else f"{line}: {result.reason}")
        if not all(result.ok for result in results):
            raise CommandError("not ready", returncode=1)

    def _worker(self, hostname: str | None) -> None:
        from pipelines.health import database_problem

        problem = database_problem()
        if problem is not None:
            raise CommandError(f"cannot tell: {problem}", returncode=1)
        alive = live_workers_here(hostname=hostname)
        if not alive:
            who = hostname or f"on this machine (*@{socket.gethostname()})"
            raise CommandError(f"no live worker {who}: none heartbeated within PIPELINES_WORKER_TIMEOUT.", returncode=1)
        self.stdout.write(f"alive: {', '.join(alive)}")
