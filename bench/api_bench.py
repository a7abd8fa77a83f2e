"""API read latency with a large history, as a script (or a step) sees it.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pipelines_api_bench \
        .venv/bin/python bench/api_bench.py

Seeds 10,000 runs (one step each), 10,000 versions of the artifact `dataset` and
100,000 metadata rows (10 keys per version) with bulk inserts, starts gunicorn, and
times through the SDK `Client`:

- `Client().get_artifact_version("dataset", v).run_metadata["accuracy"].value`
  (target ≤ 4 ms; ZenML 0.98: 8-13 ms with SQLite and 200 runs);
- `Client().list_pipeline_runs()` first page (target ≤ 15 ms; ZenML 0.98: 21 ms at 200 runs).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_bench import (
    STOP_TIMEOUT,
    create_token,
    database_vendor,
    ensure_postgres_database,
    free_port,
    gunicorn_command,
    log,
    manage,
    start_child,
    wait_for_http,
)

from pipelines.supervisor import Supervisor

RUNS = 10_000
KEYS_PER_VERSION = 10

SEED = f"""
from django.utils import timezone
from pipelines.models import (Artifact, ArtifactVersion, Pipeline, PipelineRun, RunMetadata, StepRun)
if not PipelineRun.objects.exists():
    now = timezone.now()
    pipeline = Pipeline.objects.create(name="bench_history")
    runs = PipelineRun.objects.bulk_create(
        [PipelineRun(pipeline=pipeline, name=f"bench_history-{{i}}", status="completed", spec={{}},
                     started_at=now, finished_at=now) for i in range({RUNS})], batch_size=2000)
    steps = StepRun.objects.bulk_create(
        [StepRun(pipeline_run=run, name="train", source="m:train", spec={{}}, status="completed")
         for run in runs], batch_size=2000)
    artifact = Artifact.objects.create(name="dataset")
    versions = ArtifactVersion.objects.bulk_create(
        [ArtifactVersion(artifact=artifact, version=str(i + 1), number=i + 1, uri=f"/nowhere/{{i}}",
                         materializer="m:M", checksum="0" * 64, producer_step_run=step)
         for i, step in enumerate(steps)], batch_size=2000)
    RunMetadata.objects.bulk_create(
        [RunMetadata(key="accuracy" if k == 0 else f"key_{{k}}", value=0.5 + k / 100, type="float",
                     artifact_version=version)
         for version in versions for k in range({KEYS_PER_VERSION})], batch_size=5000)
# A live database has been analysed by autovacuum long before it holds this much; a
# freshly bulk-loaded one has not, and the planner then guesses (badly) from defaults.
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print("seeded")
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(samples: int, fn) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(10):
        fn()  # warm-up: connections, caches
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--recreate-db", action="store_true")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if database_vendor(database_url) != "PostgreSQL":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (it is seeded with 10,000 runs).")
    ensure_postgres_database(database_url, recreate=args.recreate_db)
    data_dir = Path(tempfile.mkdtemp(prefix="pipelines-api-bench-"))
    env = {**os.environ, "PIPELINES_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    env.setdefault("LOG_LEVEL", "WARNING")
    log("migrating and seeding (first run only)")
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-c", SEED)
    token = create_token(env)
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    with Supervisor(stop_timeout=STOP_TIMEOUT, poll_interval=0.1) as supervisor:
        web = start_child(supervisor, "gunicorn", gunicorn_command(port, threads=8), env, data_dir)
        wait_for_http(supervisor, server, token, web)
        from pipelines.client import Client

        client = Client(server_url=server, api_token=token)
        versions = [str(random.randint(1, RUNS)) for _ in range(args.samples + 10)]
        picks = iter(versions)

        def read_metadata() -> None:
            assert client.get_artifact_version("dataset", next(picks)).run_metadata["accuracy"].value == 0.5

        metadata_ms = timed(args.samples, read_metadata)
        runs_ms = timed(args.samples, lambda: client.list_pipeline_runs())
    print()
    print(f"History: {RUNS:,} runs, {RUNS:,} artifact versions, {RUNS * KEYS_PER_VERSION:,} metadata rows (PostgreSQL)")
    print(f"{'figure':58} {'median':>8} {'p95':>8}   target")
    print(
        f"{'get_artifact_version(name, version).run_metadata[k].value':58} "
        f"{statistics.median(metadata_ms):6.2f}ms {percentile(metadata_ms, 0.95):6.2f}ms"
        "   <= 4 ms (ZenML 0.98: 8-13 ms)"
    )
    print(
        f"{'list_pipeline_runs() first page (50 runs)':58} "
        f"{statistics.median(runs_ms):6.2f}ms {percentile(runs_ms, 0.95):6.2f}ms   <= 15 ms (ZenML 0.98: 21 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
