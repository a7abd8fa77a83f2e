"""Worker lifecycle hooks: a heartbeat thread in each worker's main process, and a
mark in each prefork pool process (a step past its timeout may end such a process)."""

from __future__ import annotations

import logging
import threading

from celery.signals import task_prerun, worker_init, worker_process_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

logger = logging.getLogger(__name__)
_stop = threading.Event()
_heartbeat_thread: threading.Thread | None = None
# How long a stopping worker waits for its heartbeat thread to delete its row.
HEARTBEAT_STOP_WAIT = 10.0


def _beat(hostname: str, queues: list[str], concurrency: int | None = None) -> None:
    """Say this worker is alive and, every reaper interval, do the reaper's pass."""
    import time

    from pipelines.services.reaper import reap_once
    from pipelines.services.workers import worker_gone, worker_heartbeat

    started_at = timezone.now()
    interval = settings.PIPELINES["WORKER_HEARTBEAT_INTERVAL"]
    reaper_interval = settings.PIPELINES["REAPER_INTERVAL"]
    next_reap = 0.0
    try:
        while not _stop.is_set():
            try:
                close_old_connections()
                worker_heartbeat(hostname=hostname, queues=queues, started_at=started_at, concurrency=concurrency)
                if time.monotonic() >= next_reap:
                    next_reap = time.monotonic() + reaper_interval
                    reap_once()
            except Exception:  # the database may be briefly away; keep beating
                logger.exception("Worker heartbeat or reaper pass failed")
                connection.close()
            _stop.wait(min(interval, reaper_interval))
        worker_gone(hostname=hostname)
    finally:
        connection.close()


@worker_init.connect
def refuse_an_unreachable_artifact_store(sender: object = None, **kwargs: object) -> None:
    """A worker that cannot reach the artifact store would fail every step it takes:
    it refuses to start instead, naming the store's URL and the cause."""
    from pipelines.sdk.stores import StoreError, isolate_this_process
    from pipelines.storage import artifact_store

    pool = getattr(sender, "pool_cls", None) or ""
    if "prefork" in (pool if isinstance(pool, str) else getattr(pool, "__module__", "")):
        # This process forks the pool processes that run steps; obstore must not be
        # used in it (see pipelines.sdk.stores.objects.isolate_this_process).
        isolate_this_process()

    try:
        artifact_store().check_reachable()
    except StoreError as exc:
        logger.critical("Not starting: %s", exc)
        # SystemExit, not an Exception: Celery logs and swallows a signal handler's
        # Exception, and the worker would start anyway.
        raise SystemExit(f"pipelines: not starting the worker: {exc}") from None


@worker_init.connect
def refuse_an_unusable_database(sender: object = None, **kwargs: object) -> None:
    """A worker whose database does not answer, or lacks migrations, would log an error
    every few seconds and run nothing: it exits at start instead, saying what to do."""
    from pipelines.health import database_problem

    problem = database_problem()
    connection.close()  # the pool processes fork from this one: no shared connection
    if problem is not None:
        logger.critical("Not starting: %s", problem)
        raise SystemExit(f"pipelines: not starting the worker: {problem}.")


def pool_size(consumer: object) -> int | None:
    """How many steps the worker runs at once: its pool's processes (threads, greenlets),
    else the worker's --concurrency, else the app's worker_concurrency setting."""
    for value in (
        getattr(getattr(consumer, "pool", None), "num_processes", None),
        getattr(getattr(consumer, "controller", None), "concurrency", None),
        getattr(getattr(getattr(consumer, "app", None), "conf", None), "worker_concurrency", None),
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


@worker_ready.connect
def start_heartbeat(sender: object = None, **kwargs: object) -> None:
    hostname = getattr(sender, "hostname", None) or "worker"
    try:
        queues = [queue.name for queue in sender.task_consumer.queues]  # type: ignore[attr-defined]
    except AttributeError:
        queues = [settings.PIPELINES["QUEUE"]]
    global _heartbeat_thread
    _stop.clear()
    _heartbeat_thread = threading.Thread(
        target=_beat, args=(hostname, queues, pool_size(sender)), name="pipelines-heartbeat", daemon=True
    )
    _heartbeat_thread.start()


@worker_process_init.connect
def mark_pool_process(**kwargs: object) -> None:
    from pipelines.engine.time_limit import mark_pool_process

    mark_pool_process()


@worker_shutdown.connect
def stop_heartbeat(**kwargs: object) -> None:
    """Stop beating and wait for the thread's last act, deleting this worker's row: a
    daemon thread dies with the process, so without the wait a stopped worker could
    stay "alive" to the dashboard and `healthcheck --worker` for a heartbeat timeout."""
    _stop.set()
    if _heartbeat_thread is not None:
        _heartbeat_thread.join(timeout=HEARTBEAT_STOP_WAIT)


@task_prerun.connect
def recycle_old_connections(**kwargs: object) -> None:
    # With CELERY_DB_REUSE_MAX set, connections outlive tasks; this drops those past
    # CONN_MAX_AGE or broken, as Django does around each request.
    close_old_connections()
