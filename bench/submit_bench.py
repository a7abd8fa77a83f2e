"""What one run submission costs, in this process, without a broker (issue 12).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pipelines_b .venv/bin/python bench/submit_bench.py
    .venv/bin/python bench/submit_bench.py                  # SQLite in a temporary folder
    ... bench/submit_bench.py --profile wide-http           # cProfile one path, top functions

Times, for `bench_pipelines.wide` (1,000 no-op steps before one join) and
`bench_pipelines.short_chain` (7 steps): the SDK's compile (`Pipeline.compile`) and
JSON encoding of the spec; the server's `pipeline_run_create` (wall and CPU ms, SQL
statements counted with CaptureQueriesContext); and the whole HTTP path, `POST
/api/v1/runs/` through Django's WSGI handler with a Bearer token (middleware, auth,
parsing, the service, the response), as a gunicorn worker runs it minus the socket.
Publishing the ready steps is replaced by a list append (`pipelines.dispatch.send_step`
and the Celery app's `send_task`), so the figures are the submission's own. Medians
of --repeat runs after one warm-up.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from engine_bench import database_vendor, ensure_postgres_database  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="measured submissions per figure (default 7)")
    parser.add_argument("--width", type=int, default=1000, help="independent steps of `wide` (default 1000)")
    parser.add_argument(
        "--profile",
        default="",
        help="cProfile one path instead: wide-service, wide-http, short-service, short-http, wide-compile",
    )
    return parser.parse_args()


def configure() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url:
        ensure_postgres_database(url)
    os.environ["PIPELINES_DATA_DIR"] = tempfile.mkdtemp(prefix="pipelines-submit-bench-")
    os.environ["PIPELINES_SOURCE_ROOT"] = str(BENCH)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return database_vendor(url)


def patch_broker() -> list[Any]:
    from celery import current_app

    from pipelines import dispatch

    sent: list[Any] = []
    if hasattr(dispatch, "send_step"):
        dispatch.send_step = lambda step_run_id, **kwargs: sent.append(step_run_id)  # type: ignore[assignment]
    current_app.send_task = lambda *args, **kwargs: sent.append((args, kwargs))  # type: ignore[method-assign]
    return sent


def median_of(repeat: int, once: Callable[[], dict[str, float]]) -> dict[str, float]:
    once()  # warm-up
    samples = [once() for _ in range(repeat)]
    return {key: statistics.median(sample[key] for sample in samples) for key in samples[0]}


def measured(call: Callable[[], Any]) -> tuple[dict[str, float], Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"ms": wall * 1000, "cpu_ms": cpu * 1000, "statements": len(queries)}, result


def main() -> None:
    args = parse_args()
    vendor = configure()
    import bench_pipelines
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler

    from pipelines.services.runs import pipeline_run_create
    from pipelines.services.tokens import api_token_create

    sent = patch_broker()
    user, _ = get_user_model().objects.get_or_create(username="submit_bench")
    _, key = api_token_create(user=user, name="submit_bench")
    wsgi = WSGIHandler()
    pipelines = {
        "short": (bench_pipelines.short_chain, {}),
        "wide": (bench_pipelines.wide, {"width": args.width}),
    }

    def compile_once(label: str) -> dict[str, float]:
        pipe, params = pipelines[label]
        figures, spec = measured(lambda: pipe.compile(**params))
        encode = time.perf_counter()
        json.dumps(spec)
        figures["encode_ms"] = (time.perf_counter() - encode) * 1000
        del figures["statements"]
        return figures

    specs = {label: json.dumps(pipe.compile(**params)) for label, (pipe, params) in pipelines.items()}

    def service_once(label: str) -> dict[str, float]:
        spec = json.loads(specs[label])  # as the view gets it: a fresh parse of the body
        figures, _ = measured(lambda: pipeline_run_create(spec=spec, user=user))
        return figures

    def http_once(label: str) -> dict[str, float]:
        body = specs[label].encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/runs/",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "HTTP_HOST": "localhost",
            "HTTP_AUTHORIZATION": f"Bearer {key}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        statuses: list[str] = []

        def post() -> bytes:
            # What a gunicorn worker calls, minus the socket.
            chunks = wsgi({**environ, "wsgi.input": io.BytesIO(body)}, lambda status, headers: statuses.append(status))
            return b"".join(chunks)

        figures, content = measured(post)
        assert statuses[-1].startswith("201"), (statuses[-1], content[:500])
        figures["response_kb"] = len(content) / 1024
        return figures

    paths: dict[str, Callable[[str], dict[str, float]]] = {
        "compile": compile_once,
        "service": service_once,
        "http": http_once,
    }
    if args.profile:
        label, _, path = args.profile.partition("-")
        paths[path](label)  # warm-up
        profiler = cProfile.Profile()
        profiler.runcall(paths[path], label)
        if os.environ.get("SUBMIT_BENCH_PROFILE_FILE"):
            profiler.dump_stats(os.environ["SUBMIT_BENCH_PROFILE_FILE"])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return

    load = os.getloadavg()
    print(f"database: {vendor}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; median of {args.repeat}")
    for label, (pipe, _) in pipelines.items():
        steps = len(json.loads(specs[label])["steps"])
        print(f"\n{pipe.name} ({steps} steps, spec {len(specs[label]) / 1024:.0f} KiB)")
        for path, once in paths.items():
            figures = median_of(args.repeat, lambda once=once, label=label: once(label))
            shown = ", ".join(
                f"{value:.0f} {name}" if name == "statements" else f"{value:.1f} {name}"
                for name, value in figures.items()
            )
            print(f"  {path:<8} {shown}")
    print(f"\n(messages that would have been published: {len(sent)})")


if __name__ == "__main__":
    main()
