"""Heartbeats of the steps running in this process.

One daemon thread per process (started on first use, and again after a fork) beats
for every step the process is running, on one database connection, so a step
costs no connection of its own.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_running: dict[int, int] = {}  # step run id -> attempt
_thread_pid: int | None = None
_wake = threading.Event()


def _beat_forever() -> None:
    from pipelines.services.steps import step_run_heartbeat

    interval = settings.PIPELINES["STEP_HEARTBEAT_INTERVAL"]
    while True:
        _wake.wait(interval)
        _wake.clear()
        with _lock:
            beating = list(_running.items())
        for step_run_id, attempt in beating:
            try:
                step_run_heartbeat(step_run_id=step_run_id, attempt=attempt)
            except Exception:  # the database may be briefly away; try again next beat
                logger.exception("Heartbeat of step run %s failed", step_run_id)
                connection.close()


def _ensure_thread() -> None:
    global _thread_pid
    if _thread_pid == os.getpid():
        return
    _thread_pid = os.getpid()
    threading.Thread(target=_beat_forever, name="pipelines-step-heartbeat", daemon=True).start()


@contextmanager
def heartbeating(step_run_id: int, attempt: int) -> Iterator[None]:
    with _lock:
        _ensure_thread()
        _running[step_run_id] = attempt
    try:
        yield
    finally:
        with _lock:
            _running.pop(step_run_id, None)
