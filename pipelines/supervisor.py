"""Child processes (a web server, workers, example scripts): start, watch, stop.

The one way the demo command, the engine benchmark and the live tests run other
processes of this project:

    with Supervisor(stop_timeout=10) as supervisor:
        web = supervisor.start("web server", argv, env=env, log_path=logs / "web.log")
        if not supervisor.wait_until(lambda: http_status(url) is not None, timeout=30):
            raise SystemExit(f"no answer:\\n{web.tail()}")
        ...  # every child is stopped when the block ends, however it ends

A child runs in a process group of its own, with its output (stdout and stderr)
captured in a log file. Stopping sends SIGTERM to the child itself, waits, then
SIGKILLs its whole group.

Standard library only and no Django: the benchmark process must stay Django-free.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.25
TAIL_LINES = 25


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

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)


def start_process(
    argv: list[str], *, env: dict[str, str], log_path: Path, cwd: Path | str | None = None, append: bool = False
) -> subprocess.Popen[bytes]:
    """Start `argv` with its output in `log_path` (overwritten unless `append`)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab" if append else "wb") as log:
        # A session (so a process group) of its own: Ctrl-C in the terminal then
        # reaches only the parent, which stops its children in order instead of
        # everything dying at once, and stopping the group reaches only what this
        # child started (a worker's pool, gunicorn's workers).
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send `signum` to the process group `process` leads (it and its descendants)."""
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
            with contextlib.suppress(ProcessLookupError):
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
        signal_group(process, signal.SIGKILL)
    for process in processes:
        process.wait()
    return killed


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of a log, read from its end (logs can be large)."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 64 * 1024))
            text = file.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def http_status(url: str, *, headers: dict[str, str] | None = None, timeout: float = 2.0) -> int | None:
    """The HTTP status `url` answers with, or None if nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310  (our own http URL)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


class Supervisor:
    """Owns the children: starts them, notices a stop request or a death, stops them all."""

    def __init__(self, *, stop_timeout: float = STOP_TIMEOUT, poll_interval: float = POLL_INTERVAL) -> None:
        self.children: list[Child] = []
        self.stop_signal: str | None = None
        self.stop_timeout = stop_timeout
        self.poll_interval = poll_interval
        self._previous_handlers: dict[int, Any] = {}
        self._watched: set[int] = set()  # ids of the children whose death ends the wait

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop_all()

    def install_signal_handlers(self) -> None:
        """Turn SIGINT and SIGTERM into StopRequested at the next checkpoint.

        The handler only records the signal. Raising from it could interrupt Popen
        between starting a child and recording it, and that child would never be stopped.
        """
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signal.Signals(signum).name

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        cwd: Path | str | None = None,
        watch: bool = True,
    ) -> Child:
        """Start a child. A watched child's death ends the next checkpoint with ChildExited;
        an unwatched one (a script expected to finish) is only stopped with the others."""
        child = Child(name, start_process(argv, env=env, log_path=log_path, cwd=cwd), log_path)
        self.children.append(child)
        if watch:
            self._watched.add(id(child))
        return child

    def checkpoint(self) -> None:
        if self.stop_signal:
            raise StopRequested(self.stop_signal)
        for child in self.children:
            if id(child) in self._watched and not child.alive():
                raise ChildExited(child)

    def sleep(self, seconds: float | None = None) -> None:
        self.checkpoint()
        time.sleep(self.poll_interval if seconds is None else seconds)
        self.checkpoint()

    def wait_until(self, condition: Callable[[], bool], *, timeout: float) -> bool:
        """Poll `condition` until it holds (True) or `timeout` passes (False), checking
        between polls that no stop was asked for and no watched child died."""
        deadline = time.monotonic() + timeout
        while True:
            self.checkpoint()
            if condition():
                return True
            if time.monotonic() > deadline:
                return False
            self.sleep()

    def stop(self, child: Child, timeout: float | None = None) -> bool:
        """Stop one child now; True if it had to be killed."""
        killed = stop_processes([child.process], self.stop_timeout if timeout is None else timeout)
        self.children.remove(child)
        return bool(killed)

    def stop_all(self) -> list[str]:
        """Stop every child; returns the names of those that had to be killed."""
        # Signals that arrive now change nothing: stopping is already under way and
        # bounded by stop_timeout. The handlers from before are back afterwards.
        for signum in self._previous_handlers:
            signal.signal(signum, signal.SIG_IGN)
        try:
            killed = stop_processes([child.process for child in self.children], self.stop_timeout)
        finally:
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)
            self._previous_handlers.clear()
        names = [child.name for child in self.children if child.process.pid in killed]
        self.children.clear()
        return names
