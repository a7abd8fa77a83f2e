"""Stopping a step whose function runs longer than its timeout (`@step(timeout=...)`).

Celery's own time limits do not fit. They are per task, and a worker runs the step
that a finished step made ready in the same task (PIPELINES_RUN_NEXT_STEP_INLINE),
so one task can carry several steps with different limits; the solo and threads
pools ignore them; and a hard limit kills the pool process before anything is
recorded, leaving the step to the reaper as "worker lost" a minute later.

So at the deadline `StepTimeoutError` is raised in the thread running the step: by
SIGALRM when that is the process's main thread (a prefork pool process, the solo
pool), which also cuts short a blocking sleep or read, else asynchronously (the
threads pool), which takes effect at the step's next Python instruction. It is a
BaseException, so the step's own `except Exception:` does not swallow it. A step
that still runs HARD_STOP_GRACE seconds later (it swallowed the error, or it is
stuck in C code that never returns to Python) is handed to `on_overrun`, which
records the attempt as failed; in a prefork pool process it then ends the process,
which the pool replaces, so the worker lives on.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# How long a step told to stop may take to do so before it is stopped the hard way.
HARD_STOP_GRACE = 10.0

_in_pool_process = False


class StepTimeoutError(BaseException):
    """The step's function ran longer than its timeout."""

    # Set on the subclass made for an asynchronous raise, which cannot pass arguments.
    message = "the step ran longer than its timeout"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


def timeout_message(step_name: str, seconds: float) -> str:
    return f"step {step_name!r} ran longer than its timeout of {seconds:g} s"


def mark_pool_process() -> None:
    """Called in each prefork pool process as it starts (Celery's worker_process_init):
    only such a process may be ended to stop a step, since the pool replaces it."""
    global _in_pool_process
    _in_pool_process = True


def in_pool_process() -> bool:
    return _in_pool_process


class _Limit:
    def __init__(self, message: str, thread_id: int) -> None:
        self.message = message
        self.thread_id = thread_id
        self.lock = threading.Lock()
        self.armed = True
        self.fired = False

    def on_alarm(self, signum: int, frame: object) -> None:
        # Runs in the main thread between two instructions of the step.
        if self.armed:
            self.fired = True
            raise StepTimeoutError(self.message)

    def raise_in_thread(self) -> None:
        with self.lock:
            if not self.armed:
                return
            self.fired = True
            error = type("StepTimeoutError", (StepTimeoutError,), {"message": self.message})
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), ctypes.py_object(error))

    def disarm(self) -> None:
        with self.lock:
            self.armed = False
            if self.fired:
                # An asynchronous raise not yet delivered must not land in the
                # executor's code after the step: drop it (the caller raises its own).
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), None)

    def overrun(self, on_overrun: Callable[[str], None]) -> None:
        # Under the lock: the step's thread cannot leave the block (and record its own
        # end) while the overrun is recorded and its process perhaps ended.
        with self.lock:
            if self.armed:
                on_overrun(f"{self.message} and did not stop within {HARD_STOP_GRACE:g} s of being told to")


@contextmanager
def time_limit(seconds: float | None, *, step_name: str, on_overrun: Callable[[str], None]) -> Iterator[None]:
    """Raise StepTimeoutError in the block if it runs longer than `seconds` (None: no
    limit); call `on_overrun(message)` from another thread if it still runs
    HARD_STOP_GRACE seconds later. A block that caught the error and ended anyway
    still ends in StepTimeoutError: its result came too late."""
    if seconds is None:
        yield
        return
    thread = threading.current_thread()
    limit = _Limit(timeout_message(step_name, seconds), thread.ident or 0)
    by_signal = thread is threading.main_thread() and hasattr(signal, "setitimer")
    previous = None
    if by_signal:
        previous = signal.signal(signal.SIGALRM, limit.on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    timers = [threading.Timer(seconds + HARD_STOP_GRACE, limit.overrun, args=(on_overrun,))]
    if not by_signal:
        timers.append(threading.Timer(seconds, limit.raise_in_thread))
    for timer in timers:
        timer.daemon = True
        timer.start()
    try:
        yield
    except BaseException as exc:
        if limit.fired and not isinstance(exc, StepTimeoutError):
            # The step turned the timeout into an error of its own; say what happened.
            raise StepTimeoutError(limit.message) from exc
        raise
    finally:
        limit.disarm()  # first: an alarm from here on raises nothing
        if by_signal:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        for timer in timers:
            timer.cancel()
    if limit.fired:
        raise StepTimeoutError(limit.message)
