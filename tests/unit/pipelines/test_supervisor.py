"""The process supervisor the demo, the engine benchmark and the live tests share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.supervisor import ChildExited, StopRequested, Supervisor, log_tail, stop_processes

SLEEPS = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_log_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))

    assert log_tail(log, lines=2) == "line 98\nline 99"
    assert log_tail(tmp_path / "missing.log") == "(no log)"


# Stopping children


IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"
)


def _spawn(code: str) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE)
    assert process.stdout is not None
    # The child prints one line once its signal handlers are in place.
    return process, process.stdout.readline().decode().strip()


def _gone(pid: int) -> bool:
    # A killed orphan may stay a zombie until init reaps it; it runs no more either way.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_stopping_terminates_a_child_that_honours_sigterm() -> None:
    process, _ = _spawn("import time; print(flush=True); time.sleep(60)")

    killed = stop_processes([process], timeout=5)

    assert killed == []
    assert process.returncode == -signal.SIGTERM


def test_stopping_kills_a_child_that_ignores_sigterm_after_the_timeout() -> None:
    process, _ = _spawn(IGNORES_SIGTERM)
    started = time.monotonic()

    killed = stop_processes([process], timeout=0.5)

    assert killed == [process.pid]
    assert process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_stopping_also_kills_what_is_left_of_a_childs_process_group() -> None:
    # The leader exits on SIGTERM but leaves a process in its group that ignores it,
    # like a worker whose pool process outlives it.
    process, grandchild = _spawn(
        "import subprocess, sys, time\n"
        f"grandchild = subprocess.Popen([sys.executable, '-c', {IGNORES_SIGTERM!r}], stdout=subprocess.PIPE)\n"
        "grandchild.stdout.readline()\n"
        "print(grandchild.pid, flush=True)\n"
        "time.sleep(60)\n"
    )

    stop_processes([process], timeout=0.5)

    deadline = time.monotonic() + 5
    while not _gone(int(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(int(grandchild))


# The Supervisor


def test_a_child_s_output_goes_to_its_log(tmp_path: Path) -> None:
    with Supervisor() as supervisor:
        child = supervisor.start(
            "echo",
            [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"],
            env=dict(os.environ),
            log_path=tmp_path / "logs" / "echo.log",
            watch=False,
        )
        assert supervisor.wait_until(lambda: not child.alive(), timeout=10)

    assert sorted(child.tail().splitlines()) == ["err", "out"]


def test_wait_until_says_whether_the_condition_held_in_time(tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    with Supervisor(poll_interval=0.01) as supervisor:
        supervisor.start(
            "writer",
            [sys.executable, "-c", f"open({str(flag)!r}, 'w').close(); import time; time.sleep(60)"],
            env=dict(os.environ),
            log_path=tmp_path / "writer.log",
        )

        assert supervisor.wait_until(flag.exists, timeout=20)
        started = time.monotonic()
        assert not supervisor.wait_until(lambda: False, timeout=0.2)
        assert time.monotonic() - started < 5


def test_a_watched_child_that_dies_ends_the_wait_with_its_name(tmp_path: Path) -> None:
    with Supervisor(poll_interval=0.01) as supervisor:
        supervisor.start(
            "web server",
            [sys.executable, "-c", "raise SystemExit(3)"],
            env=dict(os.environ),
            log_path=tmp_path / "web.log",
        )

        with pytest.raises(ChildExited, match="web server exited with status 3"):
            supervisor.wait_until(lambda: False, timeout=20)


def test_a_stop_signal_ends_the_wait_once_handlers_are_installed(tmp_path: Path) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with Supervisor(poll_interval=0.01) as supervisor:
        supervisor.install_signal_handlers()
        os.kill(os.getpid(), signal.SIGTERM)

        with pytest.raises(StopRequested, match="SIGTERM"):
            supervisor.wait_until(lambda: False, timeout=20)

    assert signal.getsignal(signal.SIGTERM) == previous  # the handlers from before are back


def test_leaving_the_block_stops_every_child_even_on_an_error(tmp_path: Path) -> None:
    children = []

    def start_two_then_fail() -> None:
        with Supervisor(stop_timeout=5) as supervisor:
            for name in ("web", "worker"):
                children.append(supervisor.start(name, SLEEPS, env=dict(os.environ), log_path=tmp_path / f"{name}.log"))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        start_two_then_fail()

    assert [child.process.returncode for child in children] == [-signal.SIGTERM, -signal.SIGTERM]


def test_stop_all_names_the_children_it_had_to_kill(tmp_path: Path) -> None:
    supervisor = Supervisor(stop_timeout=0.5)
    supervisor.start("polite", SLEEPS, env=dict(os.environ), log_path=tmp_path / "polite.log")
    stubborn = supervisor.start(
        "stubborn",
        [sys.executable, "-c", IGNORES_SIGTERM],
        env=dict(os.environ),
        log_path=tmp_path / "stubborn.log",
    )
    deadline = time.monotonic() + 20
    while not stubborn.log_path.read_text() and time.monotonic() < deadline:  # its handler is in place
        time.sleep(0.05)

    assert supervisor.stop_all() == ["stubborn"]
