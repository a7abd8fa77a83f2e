"""CPU time spent by each part of the system during a measurement, from /proc.

On a shared 2-core machine wall-clock rates move with whatever else runs; CPU time
per step does much less, and it sets the ceiling: at T ms of CPU per step in all our
processes together, two cores cannot run more than 2000 / T steps per second.
Linux only (reads /proc); elsewhere every figure is None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command: state ppid ... utime(11) stime(12) cutime(13) cstime(14)
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / _TICKS


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


@dataclass
class CpuSnapshot:
    # Per part, CPU seconds so far of each process in it, by pid: a process that exits
    # in between (a PostgreSQL backend whose connection closed) drops out of the
    # difference instead of making it negative; its time is lost, so a part's figure
    # is a lower bound.
    parts: dict[str, dict[int, float]]


def snapshot(roots: dict[str, int], *, database: str | None) -> CpuSnapshot | None:
    """CPU seconds so far of each root process with all its descendants (by name),
    of this process, of the PostgreSQL backends serving `database`, and of Redis."""
    if not os.path.isdir("/proc"):
        return None
    stats = {pid: stat for pid in _all_pids() if (stat := _stat(pid)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(pid: int) -> dict[int, float]:
        found, todo = {}, [pid]
        while todo:
            current = todo.pop()
            if current in stats:
                found[current] = stats[current][1]
            todo.extend(children.get(current, []))
        return found

    parts = {name: tree(pid) for name, pid in roots.items()}
    parts["benchmark (SDK)"] = {os.getpid(): stats.get(os.getpid(), (0, 0.0))[1]}
    if database:
        # A backend's title: "postgres: 15/main: <user> <database> <client> <state>".
        serving = [p for p in stats if f" {database} " in (title := _cmdline(p)) and title.startswith("postgres:")]
        parts["PostgreSQL"] = {pid: stats[pid][1] for pid in serving}
    parts["Redis"] = {pid: cpu for pid, (_, cpu) in stats.items() if "redis-server" in _cmdline(pid).split(" ")[0]}
    return CpuSnapshot(parts)


def per_step_ms(before: CpuSnapshot | None, after: CpuSnapshot | None, steps: int) -> dict[str, float] | None:
    if before is None or after is None or not steps:
        return None
    return {
        name: sum(cpu - before.parts.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items()) * 1000 / steps
        for name, pids in after.parts.items()
    }
