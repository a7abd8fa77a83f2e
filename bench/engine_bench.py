#!/usr/bin/env python
"""Engine benchmark: chain latency, per-step overhead, fan-out parallelism, caching, SDK import time.

    .venv/bin/python bench/engine_bench.py [--repeat N] [--concurrency N] [--keep]
                                           [--only chain|fanout|cache|import|throughput] [--workers N]
                                           [--purge] [--recreate-db]

Uses whatever DATABASE_URL and CELERY_BROKER_URL say (none: the embedded default,
SQLite + kombu's filesystem broker). Everything else is set up here, in a fresh
temporary PIPELINES_DATA_DIR: migrations, a user and API token, a gunicorn web
server and one Celery worker; both are stopped at the end, also on Ctrl-C or error.

This process stays Django-free: it uses the SDK exactly as a user script does.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import cpu_accounting

from pipelines.supervisor import Child, ChildExited, Supervisor

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable

CHAIN_LENGTH = 20
IMPORT_RUNS = 10
STARTUP_TIMEOUT = 90.0
RUN_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0

# From the issue. Targets are for PostgreSQL + Redis.
TARGETS = {
    "chain20": ("<= 0.3 s", "2.16 s"),
    "per_step": ("<= 10 ms", "79 ms"),
    "fanout": ("<= 1.5 s (concurrency >= 10)", "sequential (~10 s)"),
    "import": ("<= 0.2 s", "1.45 s"),
    "cache": ("cached ≤ 30% of uncached", ""),
    "throughput": (">= 200 steps/s (2 workers x 2)", ""),
}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- configuration --------------------------------------------------------------------
def database_vendor(url: str) -> str:
    if not url:
        return "SQLite (embedded default, WAL)"
    scheme = urlparse(url).scheme.lower()
    if scheme.startswith(("postgres", "pgsql", "psql")):
        return "PostgreSQL"
    if scheme.startswith("sqlite"):
        return "SQLite"
    if scheme.startswith("mysql"):
        return "MySQL"
    return scheme


def broker_scheme(url: str) -> str:
    if not url:
        return "filesystem (embedded default)"
    return urlparse(url).scheme or url


def redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def ensure_postgres_database(url: str, *, recreate: bool = False) -> None:
    """Create the DATABASE_URL's database if it does not exist (the URL's role must be allowed to).

    With `recreate`, drop it first (for a schema whose migrations were rewritten).
    """
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    name = unquote(parsed.path.lstrip("/"))
    if not name:
        raise SystemExit("DATABASE_URL names no database.")
    params = {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": unquote(parsed.username or "") or None,
        "password": unquote(parsed.password or "") or None,
        "dbname": "postgres",
        "connect_timeout": 5,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and recreate:
            log(f"dropping PostgreSQL database {name!r} (--recreate-db)")
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        elif exists:
            return
        log(f"creating PostgreSQL database {name!r}")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- child processes (started, watched and stopped by pipelines.supervisor) -------------
def start_child(supervisor: Supervisor, name: str, command: list[str], env: dict[str, str], data_dir: Path) -> Child:
    # Run in the data folder, not the checkout: `config` and `pipelines` come from the
    # installed (editable) package, and whatever a process writes relative to its
    # working directory (kombu's filesystem transport puts its `control/` folder
    # there) lands in the temporary folder instead of the repository.
    return supervisor.start(name, command, env=env, log_path=data_dir / f"{name}.log", cwd=data_dir)


def gunicorn_command(port: int, *, threads: int) -> list[str]:
    """The web server as deployed: gunicorn with threaded workers (long polls hold a thread)."""
    workers = ["-k", "gthread", "--threads", str(threads), "-w", "2"]
    return [PYTHON, "-m", "gunicorn", "config.wsgi", *workers, "-b", f"127.0.0.1:{port}"]


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args[:1])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


CREATE_TOKEN = """
from django.contrib.auth import get_user_model
from pipelines.services.tokens import api_token_create
user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
_, key = api_token_create(user=user, name="engine_bench")
print("TOKEN=" + key)
"""


def create_token(env: dict[str, str]) -> str:
    out = manage(env, "shell", "-c", CREATE_TOKEN)
    for line in out.splitlines():
        if line.startswith("TOKEN="):
            return line.removeprefix("TOKEN=").strip()
    raise SystemExit(f"Could not create an API token:\n{out}")


def api_get(server: str, token: str, path: str, timeout: float = 10.0) -> Any:
    request = urllib.request.Request(f"{server}/api/v1/{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for_http(supervisor: Supervisor, server: str, token: str, web: Child) -> None:
    def answers() -> bool:
        try:
            api_get(server, token, "runs/?limit=1", timeout=2)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False
        return True

    try:
        answered = supervisor.wait_until(answers, timeout=STARTUP_TIMEOUT)
    except ChildExited as exited:
        raise SystemExit(f"{exited.child.name} exited:\n{exited.child.tail()}") from None
    if not answered:
        raise SystemExit(f"gunicorn did not answer within {STARTUP_TIMEOUT:.0f} s:\n{web.tail()}")


# --- measuring runs ---------------------------------------------------------------------
class WaitCounter:
    """Counts the SDK's long-poll round trips (wraps Client.wait_for_run_change)."""

    def __init__(self) -> None:
        self.calls = 0

    def install(self) -> None:
        from pipelines.sdk.client import Client

        original = Client.wait_for_run_change
        counter = self

        def counted(client: Any, *args: Any, **kwargs: Any) -> Any:
            counter.calls += 1
            return original(client, *args, **kwargs)

        Client.wait_for_run_change = counted  # type: ignore[method-assign]


WAITS = WaitCounter()


@dataclass
class RunResult:
    wall: float  # submit -> completed, as the SDK sees it
    submit: float  # compile + POST (the pipeline call returning with wait=False)
    wait_calls: int
    started_epoch: float
    ended_epoch: float
    run_id: int
    detail: dict[str, Any] = field(default_factory=dict)
    step_statuses: dict[str, str] = field(default_factory=dict)  # from the SDK's run.steps


def run_once(pipe: Any, server: str, token: str, **params: Any) -> RunResult:
    quiet = io.StringIO()
    WAITS.calls = 0
    started_epoch = time.time()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(quiet):
        run = pipe.with_options(wait=False)(**params)
        t_submit = time.perf_counter()
        run.wait(timeout=RUN_TIMEOUT)
    wall = time.perf_counter() - t0
    ended_epoch = time.time()
    if run.status != "completed":
        raise SystemExit(f"Run {run.name} ended {run.status}.")
    detail = api_get(server, token, f"runs/{run.id}/")
    statuses = {name: s.status for name, s in run.steps.items()}
    return RunResult(wall, t_submit - t0, WAITS.calls, started_epoch, ended_epoch, run.id, detail, statuses)


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def chain_breakdown(result: RunResult) -> dict[str, float]:
    """Where a sequential run's time goes, from the server's own timestamps (ms per step).

    dispatch: previous step's finished_at (or run creation) -> this step's claim starts
              (rest of the previous step's completion transaction + commit, publish,
              broker delivery, worker pick-up)
    setup:    claim starts (started_at) -> user code starts (claim queries and any new
              database connection, load row, import step, load inputs, context)
    user:     the step function itself
    save:     user code ends -> finished_at (save outputs, lock run, mark completed)
    head:     client call -> run row created (compile + POST)
    tail:     last step finished_at -> SDK wait returned (commit, long-poll notice, GET)
    """
    steps = sorted(result.detail["steps"], key=lambda s: _ts(s["started_at"]) or 0.0)
    created = _ts(result.detail["created_at"])
    previous_end = created
    parts = {"dispatch": 0.0, "setup": 0.0, "user": 0.0, "save": 0.0}
    for s in steps:
        started, u0, u1, finished = (
            _ts(s["started_at"]),
            _ts(s["user_code_started_at"]),
            _ts(s["user_code_finished_at"]),
            _ts(s["finished_at"]),
        )
        parts["dispatch"] += started - previous_end
        parts["setup"] += u0 - started
        parts["user"] += u1 - u0
        parts["save"] += finished - u1
        previous_end = finished
    n = len(steps)
    out = {k: 1000 * v / n for k, v in parts.items()}
    out["head_ms"] = 1000 * (created - result.started_epoch)
    out["tail_ms"] = 1000 * (result.ended_epoch - previous_end)
    return out


def median_dict(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def measure(label: str, repeat: int, fn: Any) -> list[RunResult]:
    log(f"{label}: 1 warm-up + {repeat} runs")
    fn()
    results = []
    for _ in range(repeat):
        results.append(fn())
    return results


def measure_cache(label: str, repeat: int, pipe: Any, server: str, token: str) -> dict[str, Any]:
    """Pairs of runs with the same new salt: the first runs every step, the second none.

    Returns the measured pairs' results and the steps whose status was not the
    expected one (`completed` in the first run, `cached` in the second), warm-up included.
    """
    log(f"{label}: 1 warm-up + {repeat} pairs of runs (uncached, then cached)")
    uncached: list[RunResult] = []
    cached: list[RunResult] = []
    problems: list[str] = []
    for i in range(repeat + 1):
        salt = random.randrange(1 << 31)
        first = run_once(pipe, server, token, length=CHAIN_LENGTH, salt=salt)
        second = run_once(pipe, server, token, length=CHAIN_LENGTH, salt=salt)
        for result, expected in ((first, "completed"), (second, "cached")):
            wrong = {name: status for name, status in result.step_statuses.items() if status != expected}
            if wrong or len(result.step_statuses) != CHAIN_LENGTH:
                problem = (
                    f"run {result.run_id} (salt {salt}): {len(result.step_statuses)} steps, "
                    f"not {expected}: {', '.join(f'{n}={s}' for n, s in sorted(wrong.items())) or 'none'}"
                )
                log(f"WARNING: {problem}")
                problems.append(problem)
        if i > 0:
            uncached.append(first)
            cached.append(second)
    return {"cache_uncached": uncached, "cache_cached": cached, "cache_problems": problems}


def fanout_breakdown(result: RunResult) -> dict[str, float]:
    steps = {s["name"]: s for s in result.detail["steps"]}
    sleepers = [s for name, s in steps.items() if name.startswith("sleep_")]
    starts = [_ts(s["user_code_started_at"]) for s in sleepers]
    ends = [_ts(s["finished_at"]) for s in sleepers]
    join = steps["join"]
    # Peak number of sleep steps whose user code ran at the same time. (The step's
    # `worker` field cannot tell pool processes apart: see bench/README.md.)
    events = sorted(
        [(_ts(s["user_code_started_at"]), 1) for s in sleepers]
        + [(_ts(s["user_code_finished_at"]), -1) for s in sleepers]
    )
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return {
        "start_spread_ms": 1000 * (max(starts) - min(starts)),
        "join_dispatch_ms": 1000 * (_ts(join["started_at"]) - max(ends)),
        "peak_parallel": peak,
    }


# --- import time ------------------------------------------------------------------------
IMPORT_SNIPPET = (
    "import time; t=time.perf_counter(); from pipelines import step, pipeline; print(time.perf_counter()-t)"
)


def measure_throughput(
    args: argparse.Namespace, bp: Any, server: str, token: str, *, roots: dict[str, int], database: str | None
) -> dict[str, Any]:
    """Steps per second, first submit -> last run completed: `--runs` runs of 7 no-op
    steps submitted at once, and one run of `--width` no-op steps feeding one join.
    Failed runs and HTTP errors (a 500 on submit) end the benchmark. Also the CPU
    time per step of each of our processes (`bench/cpu_accounting.py`)."""
    out: dict[str, Any] = {"throughput_short": [], "throughput_wide": []}

    def timed(pipe: Any, count: int, steps: int, **params: Any) -> dict[str, Any]:
        quiet = io.StringIO()
        cpu_before = cpu_accounting.snapshot(roots, database=database)
        waits_before = WAITS.calls
        t0 = time.perf_counter()
        # "At once": from 8 threads, as 8 users' scripts would (one thread spends
        # ~0.1 s per submission compiling and posting the spec).
        with contextlib.redirect_stdout(quiet), ThreadPoolExecutor(max_workers=min(8, count)) as pool:
            runs = list(pool.map(lambda _: pipe.with_options(wait=False)(**params), range(count)))
            submitted = time.perf_counter() - t0
            for run in runs:
                run.wait(timeout=RUN_TIMEOUT * 5)
        seconds = time.perf_counter() - t0
        waits = WAITS.calls - waits_before
        cpu = cpu_accounting.per_step_ms(cpu_before, cpu_accounting.snapshot(roots, database=database), count * steps)
        bad = [run.name for run in runs if run.status != "completed"]
        if bad:
            raise SystemExit(f"Runs did not complete: {bad}")
        # The server's own window: first step claimed -> last run finished.
        details = [api_get(server, token, f"runs/{run.id}/") for run in runs]
        first = min(_ts(d["started_at"]) for d in details)
        last = max(_ts(d["finished_at"]) for d in details)
        return {
            "steps": count * steps,
            "seconds": seconds,
            "submit": submitted,
            "server": last - first,
            "cpu": cpu,
            "waits": waits,
        }

    for turn in range(args.repeat + 1):
        short = timed(bp.short_chain, args.runs, 7, length=7)
        wide = timed(bp.wide, 1, args.width + 1, width=args.width)
        label = "warm-up" if turn == 0 else f"{turn}/{args.repeat}"
        for name, r in ((f"{args.runs} x 7 steps", short), (f"wide {args.width}+1", wide)):
            log(
                f"throughput {label}, {name}: {r['steps'] / r['seconds']:.0f} steps/s submit to done "
                f"({r['seconds']:.2f} s, submit {r['submit']:.2f} s), {r['steps'] / r['server']:.0f} steps/s "
                f"first claim to last end ({r['server']:.2f} s); {r['waits']} long-poll requests"
            )
            if r["cpu"]:
                total = sum(r["cpu"].values())
                parts = ", ".join(f"{part} {ms:.1f}" for part, ms in r["cpu"].items())
                log(f"  CPU per step: {total:.1f} ms ({parts}); two cores allow at most {2000 / total:.0f} steps/s")
        if turn:
            out["throughput_short"].append(short)
            out["throughput_wide"].append(wide)
    return out


def measure_import(runs: int) -> list[float]:
    log(f"import: {runs} fresh interpreters")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "PIPELINES_", "DJANGO_"))}
    times = []
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            out = subprocess.run(
                [PYTHON, "-c", IMPORT_SNIPPET], cwd=cwd, env=env, capture_output=True, text=True, check=True
            )
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


# --- main --------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per figure, after 1 warm-up (5)")
    parser.add_argument("--concurrency", type=int, default=10, help="worker processes (prefork) (10)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder (logs, SQLite, broker)")
    parser.add_argument(
        "--only", choices=["chain", "fanout", "cache", "import", "throughput"], help="measure only this"
    )
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (each --concurrency) (1)")
    parser.add_argument("--runs", type=int, default=50, help="throughput: short runs submitted at once (50)")
    parser.add_argument("--width", type=int, default=1000, help="throughput: steps of the wide run (1000)")
    parser.add_argument(
        "--recreate-db",
        action="store_true",
        help="PostgreSQL: drop and recreate the DATABASE_URL's database first (it must be a throwaway one)",
    )
    parser.add_argument(
        "--purge",
        action="store_true",
        help="purge the step queue on the configured broker before starting (Redis/RabbitMQ leftovers)",
    )
    return parser.parse_args()


def fmt_s(values: list[float]) -> str:
    return f"{statistics.median(values):7.3f} s   (min {min(values):.3f})"


def fmt_ms(value: float) -> str:
    return f"{value:6.1f} ms"


def main() -> int:
    args = parse_args()
    if min(args.repeat, args.concurrency, args.workers, args.runs, args.width) < 1:
        raise SystemExit("--repeat, --concurrency, --workers, --runs and --width must be at least 1.")
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    # The throughput figures load the machine for a while: measured only when asked for.
    want = {args.only} if args.only else {"chain", "fanout", "cache", "import"}
    results: dict[str, Any] = {}

    if want & {"chain", "fanout", "cache", "throughput"}:
        data_dir = Path(tempfile.mkdtemp(prefix="pipelines-bench-"))
        supervisor = Supervisor(stop_timeout=STOP_TIMEOUT, poll_interval=0.1)
        # SIGTERM as an exit, so the `finally` below stops the children.
        previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            results.update(run_server_benchmarks(args, data_dir, supervisor, want, database_url))
        except Exception:
            for child in supervisor.children:
                log(f"last lines of the {child.name} log:\n{child.tail(40)}")
            raise
        finally:
            if supervisor.children:
                log("stopping " + " and ".join(child.name for child in supervisor.children))
            for name in supervisor.stop_all():
                log(f"{name} did not stop within {STOP_TIMEOUT:.0f} s; killed it")
            signal.signal(signal.SIGTERM, previous_sigterm)
            if args.keep:
                log(f"kept {data_dir}")
            else:
                shutil.rmtree(data_dir, ignore_errors=True)

    if "import" in want:
        results["import"] = measure_import(IMPORT_RUNS)

    report(args, database_url, broker_url, results)
    return 0


def run_server_benchmarks(
    args: argparse.Namespace, data_dir: Path, supervisor: Supervisor, want: set[str], database_url: str
) -> dict[str, Any]:
    env = {
        **os.environ,
        "PIPELINES_DATA_DIR": str(data_dir),
        "PIPELINES_SOURCE_ROOT": str(BENCH_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "PYTHONUNBUFFERED": "1",
    }
    env.setdefault("LOG_LEVEL", "WARNING")
    log(f"data folder {data_dir}")
    if database_vendor(database_url) == "PostgreSQL":
        ensure_postgres_database(database_url, recreate=args.recreate_db)
    log("migrating")
    manage(env, "migrate", "--noinput")
    token = create_token(env)
    if args.purge and os.environ.get("CELERY_BROKER_URL", "filesystem://").split(":")[0] != "filesystem":
        log("purging the step queue")
        subprocess.run(
            [PYTHON, "-m", "celery", "-A", "config", "purge", "-f"],
            cwd=REPO,
            env=env,
            check=False,
            capture_output=True,
        )

    port = free_port()
    server = f"http://127.0.0.1:{port}"
    log(f"starting gunicorn on {server}")
    web = start_child(supervisor, "gunicorn", gunicorn_command(port, threads=16), env, data_dir)
    log(f"starting {args.workers} Celery worker(s) (prefork, concurrency {args.concurrency} each)")
    workers = [
        start_child(
            supervisor,
            "worker" if n == 0 else f"worker{n + 1}",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency",
                str(args.concurrency),
                "-l",
                "warning",
                "--pool",
                "prefork",
                "-n",
                f"bench-{os.getpid()}-{n}@%h",
            ],
            env,
            data_dir,
        )
        for n in range(args.workers)
    ]
    worker = workers[0]
    wait_for_http(supervisor, server, token, web)

    # The SDK in this process, pointed at that server, like a user script.
    os.environ.update(
        {
            "PIPELINES_SERVER_URL": server,
            "PIPELINES_API_TOKEN": token,
            "PIPELINES_SOURCE_ROOT": str(BENCH_DIR),
            "PIPELINES_DATA_DIR": str(data_dir),
        }
    )
    import bench_pipelines as bp

    from pipelines.sdk.exceptions import NoWorkerError

    WAITS.install()
    log("waiting for the worker (a first 1-step run)")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with contextlib.redirect_stdout(io.StringIO()):
        first = bp.noop_chain.with_options(wait=False)(length=1)
    while True:
        if not worker.alive():
            raise SystemExit(f"The worker exited:\n{worker.tail()}")
        try:
            first.wait(timeout=10)
            break
        except (NoWorkerError, TimeoutError):
            if time.monotonic() > deadline:
                raise SystemExit(f"No worker ran a step within {STARTUP_TIMEOUT:.0f} s:\n{worker.tail()}") from None
    # One fan-out run makes every pool process (and both gunicorn workers) do its
    # first-time work (imports, database connection) before anything is measured.
    log("warming up every pool process (one fan-out run)")
    run_once(bp.fanout, server, token)

    out: dict[str, Any] = {"server": server, "worker_pids": [w.process.pid for w in workers]}
    if "chain" in want:
        for name, pipe in (("noop", bp.noop_chain), ("data", bp.data_chain)):
            for length in (1, CHAIN_LENGTH):
                out[f"{name}{length}"] = measure(
                    f"{name} chain of {length}",
                    args.repeat,
                    lambda pipe=pipe, length=length: run_once(pipe, server, token, length=length),
                )
    if "fanout" in want:
        out["fanout"] = measure("fan-out", args.repeat, lambda: run_once(bp.fanout, server, token))
    if "cache" in want:
        out.update(measure_cache(f"cached data chain of {CHAIN_LENGTH}", args.repeat, bp.cached_chain, server, token))
    if "throughput" in want:
        roots = {"web (gunicorn)": web.process.pid, **{f"worker {n + 1}": w.process.pid for n, w in enumerate(workers)}}
        database = urlparse(database_url).path.lstrip("/") if database_vendor(database_url) == "PostgreSQL" else None
        out.update(measure_throughput(args, bp, server, token, roots=roots, database=database))
    for child in supervisor.children:
        if not child.alive():
            raise SystemExit(f"{child.name} died during the benchmark:\n{child.tail()}")
    out["foreign_steps"] = foreign_steps(out, out["worker_pids"])
    return out


def foreign_steps(out: dict[str, Any], worker_pids: list[int]) -> int:
    """Steps another worker on the same broker queue ran (they would skew the figures).

    A step run's `worker` ends with ":<pid>"; ours is the worker's main process or one
    of its pool processes (same process group, since it runs in its own session).
    """
    ours: dict[str, bool] = {}

    def is_ours(name: str) -> bool:
        if name not in ours:
            pid = name.rpartition(":")[2]
            try:
                ours[name] = int(pid) in worker_pids or os.getpgid(int(pid)) in worker_pids
            except (ValueError, ProcessLookupError, PermissionError):
                ours[name] = False
        return ours[name]

    count = 0
    for value in out.values():
        if isinstance(value, list):
            for result in (r for r in value if isinstance(r, RunResult)):
                count += sum(
                    1
                    for s in result.detail.get("steps", [])
                    # A cache hit resolved on the server ran on no worker at all.
                    if s.get("worker") and not is_ours(str(s["worker"]))
                )
    return count


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head}" + (" + uncommitted changes" if dirty else "")


def report(args: argparse.Namespace, database_url: str, broker_url: str, results: dict[str, Any]) -> None:
    cores = os.cpu_count()
    versions = ", ".join(f"{pkg} {metadata.version(pkg)}" for pkg in ("Django", "celery", "kombu", "gunicorn"))
    print()
    print("Configuration")
    print(f"  database     {database_vendor(database_url)}" + (f"  ({redact(database_url)})" if database_url else ""))
    print(f"  broker       {broker_scheme(broker_url)}" + (f"  ({redact(broker_url)})" if broker_url else ""))
    print(f"  worker       {args.workers} Celery worker(s), pool prefork, concurrency {args.concurrency} each")
    print("  web          gunicorn gthread, 2 workers x 16 threads")
    print(f"  machine      {cores} cores, {platform.machine()}, Python {platform.python_version()}, {versions}")
    print(f"  code         {code_version()}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  load average {load} at the end (other work on the machine skews the figures)")
    print(f"  repetitions  {args.repeat} after 1 warm-up (import: {IMPORT_RUNS} fresh interpreters)")
    print()
    print(f"{'figure':38} {'median (min)':26} {'target (PG+Redis)':26} ZenML 0.98 (local/SQLite)")

    def row(label: str, value: str, key: str | None) -> None:
        target, zen = TARGETS[key] if key else ("", "")
        print(f"{label:38} {value:26} {target:26} {zen}")

    if "noop1" in results:
        noop1 = [r.wall for r in results["noop1"]]
        noop20 = [r.wall for r in results["noop20"]]
        data1 = [r.wall for r in results["data1"]]
        data20 = [r.wall for r in results["data20"]]
        per_step = (statistics.median(noop20) - statistics.median(noop1)) / (CHAIN_LENGTH - 1)
        per_step_min = (min(noop20) - min(noop1)) / (CHAIN_LENGTH - 1)
        data_per_step = (statistics.median(data20) - statistics.median(data1)) / (CHAIN_LENGTH - 1)
        row("chain of 1 no-op step", fmt_s(noop1), None)
        row(f"chain of {CHAIN_LENGTH} no-op steps", fmt_s(noop20), "chain20")
        row("per-step overhead (t20-t1)/19", f"{1000 * per_step:7.1f} ms  (min {1000 * per_step_min:.1f})", "per_step")
        row("chain of 1 int step (data)", fmt_s(data1), None)
        row(f"chain of {CHAIN_LENGTH} int steps (data)", fmt_s(data20), None)
        row("per-step overhead, data chain", f"{1000 * data_per_step:7.1f} ms", None)
    for key, label in (
        ("throughput_short", f"{args.runs} runs x 7 no-op steps at once"),
        ("throughput_wide", f"1 run of {args.width} no-op steps -> join"),
    ):
        if key in results:
            rates = [r["steps"] / r["seconds"] for r in results[key]]
            server = [r["steps"] / r["server"] for r in results[key]]
            row(label, f"{statistics.median(rates):7.0f} steps/s (min {min(rates):.0f})", "throughput")
            row("  same, first claim -> last end", f"{statistics.median(server):7.0f} steps/s", None)
    if "fanout" in results:
        row("fan-out 10 x sleep(1) -> join", fmt_s([r.wall for r in results["fanout"]]), "fanout")
    if "cache_uncached" in results:
        uncached = [r.wall for r in results["cache_uncached"]]
        cached = [r.wall for r in results["cache_cached"]]
        ratio = statistics.median(cached) / statistics.median(uncached)
        pairs = [c / u for c, u in zip(cached, uncached, strict=True)]
        row(f"cache: {CHAIN_LENGTH} int steps, 1st run (miss)", fmt_s(uncached), None)
        row("cache: same, 2nd run (all cached)", fmt_s(cached), None)
        row(
            "cache: cached / uncached (medians)",
            f"{100 * ratio:6.1f} %   (pairs {100 * min(pairs):.0f}-{100 * max(pairs):.0f})",
            "cache",
        )
    if "import" in results:
        imports = results["import"]
        row("import `from pipelines import ...`", fmt_s(imports), "import")

    if "noop20" in results:
        print()
        print("Where a chain's time goes (server timestamps; medians over the measured runs)")
        print(
            f"  {'':22} {'dispatch':>10} {'claim+set':>10} {'user':>10} {'save':>10}   {'head':>8} {'tail':>8}  waits"
        )
        print("  per step, ms:")
        for key, label in (
            ("noop1", "no-op chain of 1"),
            ("noop20", f"no-op chain of {CHAIN_LENGTH}"),
            ("data1", "data chain of 1"),
            ("data20", f"data chain of {CHAIN_LENGTH}"),
        ):
            b = median_dict([chain_breakdown(r) for r in results[key]])
            submit = statistics.median(r.submit for r in results[key]) * 1000
            waits = statistics.median(r.wait_calls for r in results[key])
            print(
                f"  {label:22} {b['dispatch']:10.1f} {b['setup']:10.1f} {b['user']:10.1f} {b['save']:10.1f}"
                f"   {b['head_ms']:8.1f} {b['tail_ms']:8.1f}  {waits:5.0f}   (submit call {submit:.1f} ms)"
            )
        print(
            "  dispatch = previous step marked finished -> this step's claim starts (rest of the completion\n"
            "  transaction, commit, publish, broker, worker pick-up); claim+set = claim starts -> user code (claim\n"
            "  queries, any new database connection, load row, import, inputs); save = user code end -> marked\n"
            "  completed. head = call -> run row created; tail = last step finished -> SDK returned (ms per run);\n"
            "  waits = long-poll requests the SDK made per run."
        )
    if results.get("cache_problems"):
        print()
        print(
            f"WARNING: {len(results['cache_problems'])} cache-benchmark runs had steps with an unexpected status "
            "(every step of the 1st run should be `completed`, of the 2nd `cached`):"
        )
        for problem in results["cache_problems"]:
            print(f"  {problem}")
    if results.get("foreign_steps"):
        print()
        print(
            f"WARNING: {results['foreign_steps']} step runs were executed by a worker this benchmark did not "
            "start (another worker consumes the same broker queue); the figures are not reliable."
        )
    if "fanout" in results:
        b = median_dict([fanout_breakdown(r) for r in results["fanout"]])
        print()
        print(
            f"Fan-out: the sleep steps' user code started within {b['start_spread_ms']:.0f} ms of each other, "
            f"peak {b['peak_parallel']:.0f} running at once; join claimed "
            f"{b['join_dispatch_ms']:.0f} ms after the last sleep step finished."
        )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
