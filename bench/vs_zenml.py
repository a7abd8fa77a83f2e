#!/usr/bin/env python
"""This project and ZenML 0.98 side by side, in turns, in one run: `make bench-vs-zenml`.

    .venv/bin/python bench/vs_zenml.py [--repeat N] [--quick] [--only ours|zenml]
                                       [--postgres-redis] [--markdown] [--keep]

Runs the same pipelines (bench/vs_zenml_pipelines_ours.py and
bench/vs_zenml_pipelines_zenml.py, identical apart from the imports) on both systems,
each from a warm SDK process of its own (bench/vs_zenml_driver.py, in ZenML's
virtualenv or in .venv), alternating A B A B... and reporting medians:

1. a chain of 20 steps each passing an int to the next (cache off), submit to completed;
2. the per-step slope, (t20 - t5) / 15 from the medians of chains of 20 and 5;
3. a 100 MiB float64 array output: its save overhead (the step's code returning ->
   the step recorded as finished) against `np.save` + `os.fsync` of the same array to
   the same disk, and loading it through the Client against `np.load`: both against
   this process's best of three in a tight loop, and against the same operations in
   the same processes (the step times np.save + fsync of its array to a new file just
   before it returns; the SDK process np.loads the stored file before or after its
   load through the Client, in turns), which this VM's memory makes the fair one
   (memory free for a while is slow to touch again; see bench/README.md);
4. peak memory (VmHWM) of the SDK processes and of this project's worker, idle and busy.

ZenML: installed once into `<data>/bench/zenml-venv` (bench/zenml_venv.py), local
orchestrator, SQLite store, analytics off. This project: the embedded default (SQLite
+ filesystem broker, gunicorn and one Celery worker in a fresh data folder under
`<data>/bench/`) and, with --postgres-redis or DATABASE_URL / CELERY_BROKER_URL set,
also PostgreSQL + Redis. `<data>` is $PIPELINES_DATA_DIR or var/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from engine_bench import (
    code_version,
    create_token,
    ensure_postgres_database,
    free_port,
    gunicorn_command,
    manage,
    redact,
    start_child,
    wait_for_http,
)
from zenml_venv import ZENML_VERSION, ensure_zenml, fresh_zenml_repo, zenml_env

from pipelines.supervisor import Child, Supervisor

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
DRIVER = BENCH_DIR / "vs_zenml_driver.py"

LONG, SHORT = 20, 5
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/bench_vs_zenml"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
REPLY_TIMEOUT = 600.0
STOP_TIMEOUT = 15.0
MIB = 2**20


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def data_root() -> Path:
    return Path(os.environ.get("PIPELINES_DATA_DIR") or REPO / "var").resolve() / "bench"


# --- the two pipeline files ------------------------------------------------------------
def normalized_pipelines(path: Path, system_module: str) -> str:
    """The file's code without its docstring, with `system_module` imports renamed `pipelines`."""
    tree = ast.parse(path.read_text())
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == system_module:
            node.module = "pipelines" + node.module[len(system_module) :]
    tree.body = body
    return ast.dump(tree)


def check_pipelines_identical() -> None:
    ours = normalized_pipelines(BENCH_DIR / "vs_zenml_pipelines_ours.py", "pipelines")
    zenml = normalized_pipelines(BENCH_DIR / "vs_zenml_pipelines_zenml.py", "zenml")
    if ours != zenml:
        raise SystemExit(
            "bench/vs_zenml_pipelines_ours.py and bench/vs_zenml_pipelines_zenml.py differ beyond their "
            "imports and docstrings: keep them the same, or the comparison is not fair."
        )


# --- a warm SDK process ------------------------------------------------------------------
@dataclass
class Driver:
    """One system's SDK process (bench/vs_zenml_driver.py), spoken to in JSON lines."""

    label: str
    process: subprocess.Popen[str]
    log_path: Path
    stdin: IO[str] = field(init=False)
    stdout: IO[str] = field(init=False)

    def __post_init__(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.reply()  # {"ready": true} once it has imported everything

    def reply(self) -> dict[str, Any]:
        line = self.stdout.readline()
        if not line:
            raise SystemExit(f"The {self.label} driver exited:\n{tail(self.log_path)}")
        answer = json.loads(line)
        if "error" in answer:
            raise SystemExit(f"The {self.label} driver failed: {answer['error']}\n{tail(self.log_path)}")
        return answer

    def ask(self, op: str, **args: Any) -> dict[str, Any]:
        self.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.stdin.flush()
        return self.reply()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.stdin.write('{"op": "quit"}\n')
                self.stdin.flush()
                self.process.wait(timeout=STOP_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def offline_prefix() -> list[str]:
    """`unshare --net --`, where it works (as root): the process gets a network of its own with
    nothing in it, which proves ZenML needs no network at run time; else nothing."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True, check=False)
    return ["unshare", "--net", "--"] if probe.returncode == 0 else []


def start_driver(
    label: str,
    python: Path | str,
    system: str,
    pipelines_dir: Path,
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    prefix: list[str] | None = None,
) -> Driver:
    log(f"starting the {label} SDK process" + (" with no network (unshare --net)" if prefix else ""))
    log_file = open(log_path, "w")  # noqa: SIM115 - the child writes to it until it exits
    process = subprocess.Popen(
        [*(prefix or []), str(python), str(DRIVER), "--system", system, "--pipelines-dir", str(pipelines_dir)],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
        start_new_session=True,
    )
    log_file.close()
    return Driver(label, process, log_path)


# --- this project's web server and worker ------------------------------------------------
@dataclass
class OurStack:
    label: str
    data_dir: Path
    worker: Child
    driver: Driver
    idle_worker: dict[str, Any]


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (a prefork worker's pool processes)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(int(child) for child in children)]


def vm(pid: int) -> dict[str, int]:
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


def worker_memory(worker: Child) -> dict[str, Any]:
    """VmHWM of the worker's main process and of each of its pool processes, in KiB."""
    pids = process_tree(worker.process.pid)
    return {
        "main_hwm_kib": vm(pids[0]).get("VmHWM", 0),
        "pool_hwm_kib": [vm(pid).get("VmHWM", 0) for pid in pids[1:]],
    }


def wait_until_settled(worker: Child, concurrency: int, timeout: float = 60.0) -> None:
    """Until the worker has its pool and its memory stopped growing (booted, still idle)."""
    deadline = time.monotonic() + timeout
    previous: list[int] = []
    while time.monotonic() < deadline:
        pids = process_tree(worker.process.pid)
        now = [vm(pid).get("VmRSS", 0) for pid in pids]
        if len(pids) > concurrency and now == previous:
            return
        previous = now
        time.sleep(1.0)


def start_our_stack(
    label: str,
    args: argparse.Namespace,
    supervisor: Supervisor,
    bench_root: Path,
    database_url: str = "",
    broker_url: str = "",
) -> OurStack:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=bench_root))
    mark = data_dir / "return-mark"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINES_", "DJANGO_", "ZENML_"))}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.update(
        {
            "PIPELINES_DATA_DIR": str(data_dir),
            "PIPELINES_SOURCE_ROOT": str(BENCH_DIR),
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "PYTHONUNBUFFERED": "1",
            "VS_ZENML_RETURN_MARK": str(mark),
        }
    )
    env.setdefault("LOG_LEVEL", "WARNING")
    if database_url:
        env["DATABASE_URL"] = database_url
        ensure_postgres_database(database_url)
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    log(f"{label}: migrating ({data_dir})")
    manage(env, "migrate", "--noinput")
    token = create_token(env)
    if broker_url:
        # A queue left over from an interrupted run would hand our worker stale steps.
        subprocess.run(
            [PYTHON, "-m", "celery", "-A", "config", "purge", "-f"], cwd=REPO, env=env, capture_output=True, check=False
        )
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    log(f"{label}: gunicorn on {server}, one Celery worker (prefork, concurrency {args.concurrency})")
    web = start_child(supervisor, f"{label}-gunicorn", gunicorn_command(port, threads=16), env, data_dir)
    worker_argv = [PYTHON, "-m", "celery", "-A", "config", "worker", "--concurrency", str(args.concurrency)]
    worker_argv += ["-l", "warning", "--pool", "prefork", "-n", f"vs-zenml-{label}-{os.getpid()}@%h"]
    worker = start_child(supervisor, f"{label}-worker", worker_argv, env, data_dir)
    wait_for_http(supervisor, server, token, web)
    wait_until_settled(worker, args.concurrency)
    idle = worker_memory(worker)
    sdk_env = {**env, "PIPELINES_SERVER_URL": server, "PIPELINES_API_TOKEN": token}
    driver = start_driver(f"{label} (ours)", PYTHON, "ours", BENCH_DIR, sdk_env, data_dir, data_dir / "sdk.log")
    return OurStack(label, data_dir, worker, driver, idle)


# --- the measurements ---------------------------------------------------------------------
def disk_baseline(array: np.ndarray, folder: Path, tries: int = 3) -> dict[str, float]:
    """`np.save` + `os.fsync` of the array to `folder`, then `np.load` of that file: best of `tries`.

    The best of a few is what the disk and numpy can do; a single try swings several
    times over with the fsyncs and page faults of the other work on the machine.
    """
    path = folder / "baseline.npy"
    saves, loads = [], []
    for _ in range(tries):
        t0 = time.perf_counter()
        with open(path, "wb") as file:
            np.save(file, array)
            file.flush()
            os.fsync(file.fileno())
        saves.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        loaded = np.load(path)
        loads.append(time.perf_counter() - t1)
        if loaded.nbytes != array.nbytes:
            raise SystemExit(f"np.load read {loaded.nbytes} bytes, not {array.nbytes}.")
        del loaded
        path.unlink()
    return {"save": min(saves), "load": min(loads)}


def in_turns(repeat: int, systems: list[str]) -> list[list[str]]:
    """A B C, C B A, A B C...: alternating the order cancels a drift in the machine's load."""
    return [systems if r % 2 == 0 else systems[::-1] for r in range(repeat)]


def measure(args: argparse.Namespace, drivers: dict[str, Driver], bench_root: Path) -> dict[str, Any]:
    labels = list(drivers)
    results: dict[str, Any] = {label: {"chain5": [], "chain20": [], "array": []} for label in labels}
    results["disk"] = []

    log("warm-up: one chain of 20 on each (and a check that its last output is 20)")
    for label, driver in drivers.items():
        value = driver.ask("check", length=LONG)["value"]
        if value != LONG:
            raise SystemExit(f"{label}: the chain of {LONG} returned {value}, not {LONG}.")
    for turn in in_turns(args.repeat, labels):
        for length in (SHORT, LONG):
            for label in turn:
                wall = drivers[label].ask("chain", length=length)["wall"]
                results[label][f"chain{length}"].append(wall)
                log(f"{label:>10}: chain of {length:2d}: {wall:7.3f} s")
    for label, driver in drivers.items():
        results[label]["memory_chain"] = driver.ask("memory")

    array = np.arange(args.mib * MIB // 8, dtype=np.float64)
    # The first write and read of 100 MiB in a process pays for page faults on memory
    # the machine never handed out before; the baseline gets a warm-up like the systems.
    disk_baseline(array, bench_root)
    if not args.quick:
        log("warm-up: one array run on each")
        for driver in drivers.values():
            driver.ask("array", mib=args.mib)
    for turn in in_turns(args.repeat, ["disk", *labels]):
        for label in turn:
            if label == "disk":
                figures = disk_baseline(array, bench_root)
                results["disk"].append(figures)
            else:
                figures = drivers[label].ask("array", mib=args.mib)
                results[label]["array"].append(figures)
                results[label]["materializer"] = figures["materializer"]
            extra = ""
            if label != "disk":
                extra = f" (np.save {figures['np_save']:.3f} s, np.load {figures['np_load']:.3f} s)"
            log(f"{label:>10}: {args.mib} MiB array: save {figures['save']:.3f} s, load {figures['load']:.3f} s{extra}")
    del array
    for label, driver in drivers.items():
        results[label]["memory_all"] = driver.ask("memory")
        results[label]["outside"] = driver.ask("network")["outside"]
    return results


# --- the report -----------------------------------------------------------------------------
def med(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Row:
    figure: str
    zenml: str
    ours: str
    ratio: str


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


TIMES = "\N{MULTIPLICATION SIGN}"


def ratio_text(zen: float | None, ours: float | None) -> str:
    return f"{zen / ours:.1f}{TIMES}" if zen is not None and ours else ""


def build_rows(results: dict[str, Any], labels: list[str], stacks: dict[str, OurStack], mib_size: int) -> list[Row]:
    """Rows per configuration of ours (with ZenML beside each); ZenML alone with --only zenml."""
    zen = results.get("zenml")
    disk_save = med([d["save"] for d in results["disk"]])
    disk_load = med([d["load"] for d in results["disk"]])
    ours_labels: list[str | None] = [label for label in labels if label != "zenml"] or [None]

    def chain(r: dict[str, Any] | None) -> float | None:
        return med(r["chain20"]) if r else None

    def slope(r: dict[str, Any] | None) -> float | None:
        return (med(r["chain20"]) - med(r["chain5"])) / (LONG - SHORT) if r else None

    def array(r: dict[str, Any] | None, key: str) -> float | None:
        return med([a[key] for a in r["array"]]) if r else None

    def secs(value: float | None, digits: int = 3) -> str:
        return "" if value is None else f"{value:.{digits}f} s"

    def ms(value: float | None) -> str:
        return "" if value is None else f"{1000 * value:.1f} ms"

    def own_ratio(r: dict[str, Any] | None, key: str, base: str) -> str:
        """The median of each run's figure over its own baseline, with both medians."""
        if not r:
            return ""
        ratio = med([a[key] / a[base] for a in r["array"]])
        return f"{ratio:.1f}{TIMES} ({array(r, key):.3f} s / {array(r, base):.3f} s)"

    def against(value: float | None, base: float) -> str:
        return "" if value is None else f"{value / base:.1f}{TIMES} ({value:.3f} s)"

    def hwm(r: dict[str, Any] | None, key: str) -> int | None:
        return r[key]["hwm_kib"] if r else None

    def mib_or_blank(kib: int | None) -> str:
        return "" if kib is None else mib(kib)

    rows: list[Row] = []
    for section in ("chain", "array", "memory"):
        for label in ours_labels:
            ours = results[label] if label else None
            name = STACK_NAMES[label] if label else "ZenML only"
            if section == "chain":
                rows.append(
                    Row(
                        f"{name}, chain of {LONG}",
                        secs(chain(zen), 2),
                        secs(chain(ours)),
                        ratio_text(chain(zen), chain(ours)),
                    )
                )
                rows.append(
                    Row(
                        f"per-step slope (t{LONG} \N{MINUS SIGN} t{SHORT}) / {LONG - SHORT}, {name}",
                        ms(slope(zen)),
                        ms(slope(ours)),
                        ratio_text(slope(zen), slope(ours)),
                    )
                )
            elif section == "array":
                rows.append(
                    Row(
                        f"{mib_size} MiB numpy output, {name}: save overhead / `np.save` + fsync ({disk_save:.3f} s)",
                        against(array(zen, "save"), disk_save),
                        against(array(ours, "save"), disk_save),
                        ratio_text(array(zen, "save"), array(ours, "save")),
                    )
                )
                rows.append(
                    Row(
                        f"loading it through the `Client`, {name} / `np.load` ({disk_load:.3f} s)",
                        against(array(zen, "load"), disk_load),
                        against(array(ours, "load"), disk_load),
                        ratio_text(array(zen, "load"), array(ours, "load")),
                    )
                )
                rows.append(
                    Row(
                        f"{name}, in the same processes: save overhead / `np.save` + fsync of the same array "
                        "by the step just before it returns",
                        own_ratio(zen, "save", "np_save"),
                        own_ratio(ours, "save", "np_save"),
                        "",
                    )
                )
                rows.append(
                    Row(
                        f"{name}, in the same processes: loading through the `Client` / `np.load` of the "
                        "stored file by the SDK process, in alternating order",
                        own_ratio(zen, "load", "np_load"),
                        own_ratio(ours, "load", "np_load"),
                        "",
                    )
                )
            else:
                rows.append(
                    Row(
                        f"peak memory (VmHWM) of the SDK process that submits and waits, chain runs, {name}",
                        mib_or_blank(hwm(zen, "memory_chain")),
                        mib_or_blank(hwm(ours, "memory_chain")),
                        ratio_text(hwm(zen, "memory_chain"), hwm(ours, "memory_chain")),
                    )
                )
                rows.append(
                    Row(
                        f"same, after the array runs and loads, {name}",
                        mib_or_blank(hwm(zen, "memory_all")),
                        mib_or_blank(hwm(ours, "memory_all")),
                        "",
                    )
                )
                if label:
                    for when, memory in (("idle", stacks[label].idle_worker), ("busy", ours["worker_busy"])):
                        pool = ", ".join(mib(p) for p in memory["pool_hwm_kib"])
                        rows.append(
                            Row(
                                f"peak memory of the worker, {when}, {name}: main process; pool processes",
                                "(steps run in the SDK process)" if zen else "",
                                f"{mib(memory['main_hwm_kib'])}; {pool}",
                                "",
                            )
                        )
    return rows


STACK_NAMES = {"ours": "embedded", "ours_pg": "PostgreSQL + Redis"}


def print_report(
    args: argparse.Namespace,
    results: dict[str, Any],
    labels: list[str],
    stacks: dict[str, OurStack],
    load_before: tuple[float, ...],
    started: datetime,
) -> None:
    rows = build_rows(results, labels, stacks, args.mib)
    load_after = os.getloadavg()
    loads = f"{' '.join(f'{x:.2f}' for x in load_before)} before, {' '.join(f'{x:.2f}' for x in load_after)} after"
    nproc = os.cpu_count()
    repeats = f"{args.repeat} repeat{'s' if args.repeat > 1 else ''} in turns, medians" + (
        "" if args.quick else " (after one warm-up run each)"
    )
    print()
    if args.markdown:
        print(
            f"Measured {started:%Y-%m-%d %H:%M} UTC with `make bench-vs-zenml` (bench/vs_zenml.py), code "
            f"{code_version()}: ZenML {ZENML_VERSION} (local orchestrator, SQLite, warm process) against this "
            f"project (gunicorn + one Celery worker, prefork, concurrency {args.concurrency}); {nproc} cores "
            f"(`nproc`), {platform.machine()}, Python {platform.python_version()}; load average {loads}; "
            f"{repeats}."
        )
        print()
        print(f"| | ZenML {ZENML_VERSION} | here | ratio (ZenML / here) |")
        print("|---|---|---|---|")
        for row in rows:
            print(f"| {row.figure} | {row.zenml} | {row.ours} | {row.ratio} |")
    else:
        print(f"ZenML {ZENML_VERSION} vs this project, {started:%Y-%m-%d %H:%M} UTC, code {code_version()}")
        print(f"  machine      {nproc} cores, {platform.machine()}, Python {platform.python_version()}")
        print(f"  load average {loads}")
        print(f"  repetitions  {repeats}")
        print()
        width = max(len(r.figure) for r in rows)
        print(f"{'figure':{width}}  {'ZenML ' + ZENML_VERSION:>24}  {'here':>24}  ratio")
        for row in rows:
            print(f"{row.figure:{width}}  {row.zenml:>24}  {row.ours:>24}  {row.ratio}")
    print()
    for label in labels:
        if "materializer" in results[label]:
            print(f"{label}: the array was saved with {results[label]['materializer']}")
    for label in labels:
        outside = results[label].get("outside")
        print(
            f"{label}: name lookups and connection attempts beyond the loopback during the run: "
            + (", ".join(outside) if outside else "none")
        )


# --- main ------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per figure and system, in turns (5)")
    parser.add_argument("--quick", action="store_true", help="one repeat and no array warm-up: a smoke check")
    parser.add_argument("--only", choices=["ours", "zenml"], help="run only one system (no ratios)")
    parser.add_argument(
        "--postgres-redis",
        action="store_true",
        help=f"also this project on PostgreSQL + Redis (DATABASE_URL / CELERY_BROKER_URL, else "
        f"{DEFAULT_POSTGRES_URL} and {DEFAULT_REDIS_URL})",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown for the README")
    parser.add_argument("--concurrency", type=int, default=2, help="our worker's pool processes (2)")
    parser.add_argument("--mib", type=int, default=100, help="size of the array output in MiB (100)")
    parser.add_argument("--keep", action="store_true", help="keep our data folders (logs, SQLite, artifacts)")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 1
    if args.repeat < 1 or args.concurrency < 1 or args.mib < 1:
        raise SystemExit("--repeat, --concurrency and --mib must be at least 1.")
    return args


def main() -> int:
    args = parse_args()
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    check_pipelines_identical()
    bench_root = data_root()
    bench_root.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    with_pg = args.postgres_redis or bool(database_url or broker_url)
    if with_pg:
        database_url = database_url or DEFAULT_POSTGRES_URL
        broker_url = broker_url or DEFAULT_REDIS_URL

    supervisor = Supervisor(stop_timeout=STOP_TIMEOUT, poll_interval=0.1)
    drivers: dict[str, Driver] = {}
    stacks: dict[str, OurStack] = {}
    results_notes: list[str] = []
    previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.only != "ours":
            zenml_python = ensure_zenml(bench_root)
            env = zenml_env(bench_root)
            env["VS_ZENML_RETURN_MARK"] = str(bench_root / "zenml-return-mark")
            repo = fresh_zenml_repo(bench_root)
            # ZenML resolves step sources against its repository root: the pipelines
            # module is copied there rather than imported from the checkout.
            shutil.copy2(BENCH_DIR / "vs_zenml_pipelines_zenml.py", repo / "vs_zenml_pipelines_zenml.py")
            offline = offline_prefix()
            results_notes.append(
                "zenml: ran in a network namespace of its own with no network (unshare --net)"
                if offline
                else "zenml: ran with the machine's network (unshare --net is not available here)"
            )
            drivers["zenml"] = start_driver(
                "zenml", zenml_python, "zenml", repo, env, repo, bench_root / "zenml.log", offline
            )
        if args.only != "zenml":
            stacks["ours"] = start_our_stack("ours", args, supervisor, bench_root)
            drivers["ours"] = stacks["ours"].driver
            if with_pg:
                log(f"ours_pg: {redact(database_url)} and {redact(broker_url)}")
                stacks["ours_pg"] = start_our_stack("ours_pg", args, supervisor, bench_root, database_url, broker_url)
                drivers["ours_pg"] = stacks["ours_pg"].driver
        results = measure(args, drivers, bench_root)
        for label, stack in stacks.items():
            results[label]["worker_busy"] = worker_memory(stack.worker)
        for child in supervisor.children:
            if not child.alive():
                raise SystemExit(f"{child.name} died during the benchmark:\n{child.tail()}")
        print_report(args, results, list(drivers), stacks, load_before, started)
        for note in results_notes:
            print(note)
    except BaseException:
        for child in supervisor.children:
            log(f"last lines of the {child.name} log:\n{child.tail(20)}")
        raise
    finally:
        for driver in drivers.values():
            driver.stop()
        for name in supervisor.stop_all():
            log(f"{name} did not stop within {STOP_TIMEOUT:.0f} s; killed it")
        signal.signal(signal.SIGTERM, previous_sigterm)
        for stack in stacks.values():
            if args.keep:
                log(f"kept {stack.data_dir}")
            else:
                shutil.rmtree(stack.data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
