"""Capturing what a step prints and logs, per step, even with several in one process.

sys.stdout and sys.stderr are wrapped once by a proxy that writes to the buffer of
the step running in the current context (a ContextVar) and still passes the text
on to the worker's own stream, so operators keep seeing it.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_buffer: contextvars.ContextVar[io.StringIO | None] = contextvars.ContextVar("pipelines_step_log", default=None)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StepStream(io.TextIOBase):
    def __init__(self, wrapped: TextIO) -> None:
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        buffer = _buffer.get()
        if buffer is not None:
            buffer.write(text)
        return self.wrapped.write(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class _StepLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buffer = _buffer.get()
        if buffer is not None:
            try:
                buffer.write(self.format(record) + "\n")
            except Exception:
                self.handleError(record)


_handler = _StepLogHandler(level=logging.DEBUG)
_handler.setFormatter(logging.Formatter(LOG_FORMAT))


def _install() -> None:
    if not isinstance(sys.stdout, _StepStream):
        sys.stdout = _StepStream(sys.stdout)
    if not isinstance(sys.stderr, _StepStream):
        sys.stderr = _StepStream(sys.stderr)
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)


@contextmanager
def capture_step_output() -> Iterator[io.StringIO]:
    """Collect the step's stdout, stderr and log records into the yielded buffer."""
    _install()
    buffer = io.StringIO()
    token = _buffer.set(buffer)
    try:
        yield buffer
    finally:
        _buffer.reset(token)
