"""Heartbeats of the steps running in this process.

One daemon thread per process (started on first use, and again after a fork) beats
for every step the process is running, on one database connection, so a step
costs no connection of its own. A step's captured log is stored (masked) every
LOG_FLUSH_INTERVAL while it grows, so the log can be followed while the step runs;
storing it counts as a beat.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from pipelines.engine.log_capture import CapturedLog

logger = logging.getLogger(__name__)


@dataclass
class _Beating:
    attempt: int
    log: CapturedLog | None
    flushed_writes: int = 0
    last_beat: float = 0.0  # time.monotonic() of the last beat or log flush


_lock = threading.Lock()
_running: dict[int, _Beating] = {}  # by step run id
_thread_pid: int | None = None
_wake = threading.Event()


def _beat_forever() -> None:
    interval = settings.PIPELINES["STEP_HEARTBEAT_INTERVAL"]
    flush_interval = settings.PIPELINES["LOG_FLUSH_INTERVAL"]
    while True:
        _wake.wait(min(interval, flush_interval))
        _wake.clear()
        with _lock:
            beating = list(_running.items())
        for step_run_id, beat in beating:
            try:
                _beat(step_run_id, beat, interval=interval)
            except Exception:  # the database may be briefly away; try again next beat
                logger.exception("Heartbeat of step run %s failed", step_run_id)
                connection.close()


def _beat(step_run_id: int, beat: _Beating, *, interval: float) -> None:
    from pipelines.services.steps import step_run_flush_logs, step_run_heartbeat

    now = time.monotonic()
    if beat.log is not None and beat.log.writes != beat.flushed_writes:
        writes, text = beat.log.snapshot()
        step_run_flush_logs(step_run_id=step_run_id, attempt=beat.attempt, logs=text)
        beat.flushed_writes = writes
        beat.last_beat = now
    elif now - beat.last_beat >= interval * 0.9:  # woken a little early is still on time
        step_run_heartbeat(step_run_id=step_run_id, attempt=beat.attempt)
        beat.last_beat = now


def _ensure_thread() -> None:
    global _thread_pid
    if _thread_pid == os.getpid():
        return
    _thread_pid = os.getpid()
    threading.Thread(target=_beat_forever, name="pipelines-step-heartbeat", daemon=True).start()


@contextmanager
def heartbeating(step_run_id: int, attempt: int, log: CapturedLog | None = None) -> Iterator[None]:
    """Beat for the attempt while inside; store `log` as it grows."""
    with _lock:
        _ensure_thread()
        _running[step_run_id] = _Beating(attempt, log, last_beat=time.monotonic())
    try:
        yield
    finally:
        with _lock:
            _running.pop(step_run_id, None)
