"""Capturing what a step prints and logs, per step, even with several in one process.

sys.stdout and sys.stderr are wrapped once by a proxy that writes to the log of the
step running in the current context (a ContextVar) and still passes the text on to
the worker's own stream, so operators keep seeing it.

The secret values the step has read are masked: in the whole captured text each
time it is read (so a value split across two writes is still caught), in each line
passed on to the worker's stream (text is passed on by whole lines, so a value
split across writes within a line is caught too; a value spanning lines is not),
and in each log record made while the step runs.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from pipelines.sdk.masking import SecretMasker

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A line longer than this is passed on to the worker's stream without waiting for its end.
MAX_PENDING_CHARS = 8192


class CapturedLog:
    """One step attempt's output so far. The step's thread writes, the heartbeat
    thread reads (to flush it while the step runs)."""

    def __init__(self, masker: SecretMasker | None = None) -> None:
        self.masker = masker if masker is not None else SecretMasker()
        self._buffer = io.StringIO()
        self._lock = threading.Lock()
        self.writes = 0
        # Per stream, the start of a line not yet passed on to the worker's stream.
        self.pending: dict[_StepStream, str] = {}

    def write(self, text: str) -> None:
        with self._lock:
            self._buffer.write(text)
            self.writes += 1

    def snapshot(self) -> tuple[int, str]:
        """How many writes there were, and the masked text they made."""
        with self._lock:
            writes, text = self.writes, self._buffer.getvalue()
        return writes, self.masker.mask(text)

    def getvalue(self) -> str:
        return self.snapshot()[1]


_current_log: contextvars.ContextVar[CapturedLog | None] = contextvars.ContextVar("pipelines_step_log", default=None)
# Set while a step's text is passed on to the worker's stream. That stream may log
# what it gets (Celery's stdout proxy does); such a record is an echo of text the
# log already holds, and is not captured twice.
_passing_on: contextvars.ContextVar[bool] = contextvars.ContextVar("pipelines_passing_on", default=False)


class _StepStream(io.TextIOBase):
    def __init__(self, wrapped: TextIO) -> None:
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        log = _current_log.get()
        if log is None:
            return self.wrapped.write(text)
        log.write(text)
        pending = log.pending.get(self, "") + text
        lines, newline, rest = pending.rpartition("\n")
        if len(rest) > MAX_PENDING_CHARS:
            lines, newline, rest = pending, "", ""
        log.pending[self] = rest
        if lines or newline:
            self.pass_on(log, lines + newline)
        return len(text)

    def pass_on(self, log: CapturedLog, text: str) -> None:
        token = _passing_on.set(True)
        try:
            self.wrapped.write(log.masker.mask(text))
        finally:
            _passing_on.reset(token)

    def flush(self) -> None:
        log = _current_log.get()
        if log is not None and log.pending.get(self):
            self.pass_on(log, log.pending.pop(self))  # asked for: a progress line, say
        self.wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class _StepLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log = _current_log.get()
        if log is not None and not _passing_on.get():
            try:
                log.write(self.format(record) + "\n")
            except Exception:
                self.handleError(record)


_handler = _StepLogHandler(level=logging.DEBUG)
_handler.setFormatter(logging.Formatter(LOG_FORMAT))


def _masking(make_record: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """A log record factory whose records, made while a step runs, have the step's
    secret values masked, so that every handler (the worker's console too) gets
    them masked."""

    def make_masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        log = _current_log.get()
        if log is None or not log.masker:
            return record
        masker = log.masker
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to logging to report
            return record
        record.msg, record.args = masker.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = masker.mask(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = masker.mask(record.stack_info)
        return record

    make_masked_record.masks_step_secrets = True  # type: ignore[attr-defined]
    return make_masked_record


def _install() -> None:
    if not isinstance(sys.stdout, _StepStream):
        sys.stdout = _StepStream(sys.stdout)
    if not isinstance(sys.stderr, _StepStream):
        sys.stderr = _StepStream(sys.stderr)
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "masks_step_secrets", False):
        logging.setLogRecordFactory(_masking(factory))


@contextmanager
def capture_step_output(masker: SecretMasker | None = None) -> Iterator[CapturedLog]:
    """Collect the step's stdout, stderr and log records into the yielded log,
    masking what `masker` holds."""
    _install()
    log = CapturedLog(masker)
    token = _current_log.set(log)
    try:
        yield log
    finally:
        for stream, rest in log.pending.items():
            if rest:
                stream.pass_on(log, rest)
        _current_log.reset(token)
