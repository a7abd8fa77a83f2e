"""Is this installation ready to serve: the checks behind `/readyz`, `manage.py
healthcheck` and a worker's refusal to start.

Each check answers with its name, whether it passed, how long it took and, when it
failed, a reason safe to show anyone: a fixed sentence and the exception's class,
never the exception's text (a driver's message may quote a URL with its password).
The full error goes to the server's log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

# Seconds a readiness probe waits for the broker before calling it down.
BROKER_TIMEOUT = 2.0
# A successful object-store check is reused this long: each check of an s3:// store
# writes and deletes a probe object from a helper process, too costly for a probe
# that a load balancer sends every few seconds. A failure is never reused.
STORE_CHECK_TTL = 30.0


def _log_failure(what: str, exc: BaseException) -> None:
    # One line, no traceback: a probe that fails every few seconds must not flood the
    # log. The driver's own message says which host or file; drivers and kombu leave
    # passwords out of theirs.
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    logger.warning("Readiness: %s: %s: %s", what, type(exc).__name__, first_line)


class CheckFailed(Exception):
    """A check did not pass; `reason` is safe to show to anyone."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"name": self.name, "ok": self.ok, "latency_ms": self.latency_ms}
        if not self.ok:
            body["reason"] = self.reason
        return body


# --- database ------------------------------------------------------------------------

# Once this process saw every migration applied it stops asking: migrations are
# applied before a release starts, never taken back under a running process.
_migrated = threading.Event()


def unapplied_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """`app.name` of each migration the database still lacks (empty when migrated)."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def check_database() -> None:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        _log_failure("the database is not reachable", exc)
        raise CheckFailed(
            f"the database does not answer ({type(exc).__name__}): check DATABASE_URL and that the server is up"
        ) from None


def check_migrations() -> None:
    if _migrated.is_set():
        return
    try:
        missing = unapplied_migrations()
    except Exception as exc:
        _log_failure("could not read the applied migrations", exc)
        raise CheckFailed(f"could not read the applied migrations ({type(exc).__name__})") from None
    if missing:
        raise CheckFailed(
            f"{len(missing)} migration(s) not applied (first: {missing[0]}); run `python manage.py migrate`"
        )
    _migrated.set()


def database_problem() -> str | None:
    """Why this process cannot use the database (unreachable, unmigrated), or None."""
    for check in (check_database, check_migrations):
        try:
            check()
        except CheckFailed as failed:
            return failed.reason
    return None


# --- broker --------------------------------------------------------------------------


def check_broker() -> None:
    from config.celery import app

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}
    folders = [options[key] for key in ("data_folder_in", "processed_folder", "control_folder") if key in options]
    for folder in folders:
        # The filesystem broker "connects" to anything; what matters is its folders.
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)):
            raise CheckFailed("a folder of the filesystem broker is missing or not writable by this process")
    try:
        with app.connection_for_write(connect_timeout=BROKER_TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT)
    except Exception as exc:
        _log_failure("the broker is not reachable", exc)
        raise CheckFailed(f"the broker does not answer ({type(exc).__name__})") from None


# --- artifact store --------------------------------------------------------------------

_store_ok_until: dict[str, float] = {}


def check_artifact_store() -> None:
    from pipelines.sdk.stores import StoreError
    from pipelines.storage import artifact_store

    url = settings.PIPELINES["ARTIFACT_STORE"]
    if _store_ok_until.get(url, 0.0) > time.monotonic():
        return
    store = artifact_store()
    try:
        store.check_reachable()
    except (StoreError, OSError) as exc:
        _log_failure("the artifact store is not usable", exc)
        raise CheckFailed(
            f"the artifact store cannot be written to ({type(exc).__name__}); see the server log"
        ) from None
    if "://" in url:  # an object store; a local folder is checked every time (it is cheap)
        _store_ok_until[url] = time.monotonic() + STORE_CHECK_TTL


# --- all together ------------------------------------------------------------------------

CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "artifact_store": check_artifact_store,
}


def run_check(name: str, check: Callable[[], None]) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except CheckFailed as failed:
        reason, ok = failed.reason, False
    except Exception as exc:  # a check's own bug must not turn the probe into a 500
        logger.exception("Readiness check %s raised", name)
        reason, ok = f"the check itself failed ({type(exc).__name__})", False
    else:
        reason, ok = "", True
    return CheckResult(name, ok, round((time.perf_counter() - started) * 1000, 1), reason)


def readiness() -> list[CheckResult]:
    """Every check, in order; migrations are not asked of a database that does not answer."""
    results = []
    for name, check in CHECKS.items():
        if name == "migrations" and not results[0].ok:
            results.append(CheckResult(name, False, 0.0, "not checked: the database does not answer"))
            continue
        results.append(run_check(name, check))
    return results


# --- workers ---------------------------------------------------------------------------


def live_workers_here(*, hostname: str | None = None) -> list[str]:
    """Workers with a fresh heartbeat (within WORKER_TIMEOUT): the one named `hostname`
    (Celery's node name, `name@host`), or else any on this machine (`*@<host name>`)."""
    import socket

    from pipelines.models import WorkerHeartbeat

    named = {"hostname": hostname} if hostname else {"hostname__endswith": f"@{socket.gethostname()}"}
    fresh = WorkerHeartbeat.objects.live().filter(**named)
    return sorted(fresh.values_list("hostname", flat=True))
