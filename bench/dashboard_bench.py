"""Server time of every dashboard page with a large history in PostgreSQL.

    make bench-dashboard
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pipelines_dashboard_bench \
        .venv/bin/python bench/dashboard_bench.py [--samples 30] [--only run] [--recreate-db]

Seeds (once, bench/seed.py) 10,000 runs, 100,000 step runs, 40,000 artifact versions,
~100,000 metadata rows, 5 models with 2,500 versions and one 100-step run, then
requests every page in this process through django.test.Client as a logged-in user:
the whole middleware stack, session and user lookups included, no network. Each page
gets 3 warm-up requests, then N timed ones; one more counts its queries. Pages over
the issue's budget (100 ms) are marked, with their slowest queries.

The data folder (artifact files for the previews, collected static files, the
secret key) is kept per database under the system's temporary folder, so a second
run reuses the seeded database; --recreate-db starts both afresh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlencode, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine_bench import database_vendor, ensure_postgres_database, log

BUDGET_MS = 100.0
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/pipelines_dashboard_bench"


@dataclass
class Result:
    label: str
    path: str
    status: int
    durations: list[float] = field(default_factory=list)
    queries: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.durations) if self.durations else 0.0

    @property
    def p95(self) -> float:
        ordered = sorted(self.durations)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument("--only", default="", help="only pages whose label contains this")
    parser.add_argument("--recreate-db", action="store_true", help="drop the database and the data folder first")
    parser.add_argument("--markdown", action="store_true", help="also print the table in Markdown (for the README)")
    return parser.parse_args()


def configure(database_url: str, *, recreate: bool) -> Path:
    name = unquote(urlparse(database_url).path.lstrip("/"))
    data_dir = Path(tempfile.gettempdir()) / f"pipelines-dashboard-bench-{name}"
    if recreate:
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = database_url
    os.environ["PIPELINES_DATA_DIR"] = str(data_dir)
    os.environ.pop("PIPELINES_ARTIFACT_STORE", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django

    django.setup()
    return data_dir


def write_sample_files(samples: dict[str, int]) -> None:
    """Real files behind the artifact versions whose pages are timed (the seed's other
    versions point at files that were never written)."""
    import json

    from pipelines.models import ArtifactVersion

    metrics = ArtifactVersion.objects.get(id=samples["metrics_version"])
    folder = Path(metrics.uri)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.json").write_text(json.dumps({"accuracy": 0.91, "f1": 0.88, "confusion": [[50, 3], [4, 43]]}))
    dataset = ArtifactVersion.objects.get(id=samples["dataset_version"])
    folder = Path(dataset.uri)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["id,feature_a,feature_b,label", *(f"{i},{i * 0.5:.1f},{i % 7},{i % 2}" for i in range(1_000))]
    (folder / "preview.csv").write_text("\n".join(rows) + "\n")
    features = ArtifactVersion.objects.get(id=samples["features_version"])
    folder = Path(features.uri)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text("<h1>Features</h1>" + "<p>feature importance</p>" * 200)


def sample_objects() -> dict[str, int]:
    from pipelines.models import ArtifactVersion, MLModel, ModelVersion, Pipeline, PipelineRun, StepRun

    pipeline = Pipeline.objects.get(name="bench_pipeline_00")
    runs = PipelineRun.objects.filter(pipeline=pipeline, status="completed").order_by("-id")
    run = runs.first()
    assert run is not None
    model = MLModel.objects.get(name="bench_model_0")
    return {
        "pipeline": pipeline.id,
        "run": run.id,
        "running_run": PipelineRun.objects.filter(status="running").order_by("-id").values_list("id", flat=True)[0],
        "wide_run": PipelineRun.objects.get(pipeline__name="bench_wide").id,
        "step": StepRun.objects.get(pipeline_run=run, name="train").id,
        "artifact": ArtifactVersion.objects.filter(
            producer_step_run__pipeline_run=run, artifact__name__endswith="__metrics"
        )
        .values_list("artifact_id", flat=True)
        .get(),
        "metrics_version": ArtifactVersion.objects.get(
            producer_step_run__pipeline_run=run, artifact__name__endswith="__metrics"
        ).id,
        "dataset_version": ArtifactVersion.objects.get(
            producer_step_run__pipeline_run=run, artifact__name__endswith="__dataset"
        ).id,
        "features_version": ArtifactVersion.objects.get(
            producer_step_run__pipeline_run=run, artifact__name__endswith="__features"
        ).id,
        "model": model.id,
        "model_version": ModelVersion.objects.get(model=model, stage="production").id,
        "compare": list(runs.values_list("id", flat=True)[:10]),  # type: ignore[dict-item]
    }


def pages(s: dict) -> list[tuple[str, str]]:
    from django.urls import reverse

    def url(view: str, /, *args: int, **query: object) -> str:
        path = reverse(f"dashboard:{view}", args=args)
        return f"{path}?{urlencode(query, doseq=True)}" if query else path

    return [
        ("home", url("home")),
        ("pipeline list", url("pipeline-list")),
        ("pipeline detail", url("pipeline-detail", s["pipeline"])),
        ("run list", url("run-list")),
        ("run list, page 150", url("run-list", page=150)),
        ("run list, sorted by name", url("run-list", sort="-name")),
        ("run list, failed", url("run-list", status="failed")),
        ("run list, one pipeline", url("run-list", pipeline=s["pipeline"])),
        ("run list, name contains", url("run-list", name="pipeline_07")),
        ("run list, metadata key", url("run-list", metadata_key="dataset_rows")),
        ("run list, metadata key=value", url("run-list", metadata_key="accuracy", metadata_value="0.75")),
        ("run detail (10 steps)", url("run-detail", s["run"])),
        ("run detail (100 steps)", url("run-detail", s["wide_run"])),
        ("run live JSON (running)", url("run-live", s["running_run"])),
        ("run live JSON (100 steps)", url("run-live", s["wide_run"])),
        ("step detail", url("step-detail", s["step"])),
        ("step log", url("step-log", s["step"])),
        ("artifact list", url("artifact-list")),
        ("artifact detail (500 versions)", url("artifact-detail", s["artifact"])),
        ("artifact version (JSON)", url("artifact-version-detail", s["metrics_version"])),
        ("artifact version (CSV)", url("artifact-version-detail", s["dataset_version"])),
        ("artifact version (HTML)", url("artifact-version-detail", s["features_version"])),
        ("artifact HTML preview (framed)", url("artifact-version-preview", s["features_version"])),
        ("model list", url("model-list")),
        ("model detail (500 versions)", url("model-detail", s["model"])),
        ("model version", url("model-version-detail", s["model_version"])),
        ("compare 2 runs", url("compare", run=s["compare"][:2])),
        ("compare 10 runs", url("compare", run=s["compare"])),
        ("compare 10 runs, differences only", url("compare", run=s["compare"], diff=1)),
        ("metadata explorer", url("metadata-explorer")),
        ("metadata explorer: accuracy", url("metadata-explorer", key="accuracy")),
        ("metadata points: accuracy", url("metadata-points", key="accuracy")),
        ("metadata explorer: step key", url("metadata-explorer", key="train_seconds", target="step_run")),
        ("metadata explorer: artifact key", url("metadata-explorer", key="f1", target="artifact_version")),
        ("metadata explorer: model key", url("metadata-explorer", key="latency_ms", target="model_version")),
        ("metadata points: model key", url("metadata-points", key="latency_ms", target="model_version")),
    ]


def measure(client, label: str, path: str, samples: int) -> Result:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(path)
    result = Result(label, path, response.status_code)
    if response.status_code != 200:
        return result
    for _ in range(2):
        client.get(path)
    for _ in range(samples):
        started = time.perf_counter()
        client.get(path)
        result.durations.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    result.queries = len(queries.captured_queries)
    result.slowest = sorted(((float(q["time"]) * 1000, q["sql"]) for q in queries.captured_queries), reverse=True)[:3]
    return result


def markdown(results: list[Result]) -> None:
    print()
    print("| page | median | p95 | queries |")
    print("|---|---|---|---|")
    for r in results:
        if r.status == 200:
            over = " ⚠" if r.median > BUDGET_MS else ""
            print(f"| {r.label} | {r.median:.1f} ms{over} | {r.p95:.1f} ms | {r.queries} |")
        else:
            print(f"| {r.label} | HTTP {r.status} | | |")


def report(results: list[Result], seeded: dict[str, int]) -> None:
    print()
    print(
        f"History: {seeded['runs']:,} runs, {seeded['steps']:,} step runs, {seeded['versions']:,} artifact versions, "
        f"{seeded['metadata']:,} metadata rows, {seeded['model_versions']:,} model versions (PostgreSQL)"
    )
    print(f"Load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"{'page':34} {'median':>8} {'p95':>8} {'queries':>7}")
    for r in results:
        if r.status != 200:
            print(f"{r.label:34} {'HTTP ' + str(r.status):>17}   {r.path}")
            continue
        mark = "  OVER 100 ms" if r.median > BUDGET_MS else ("  (p95 over 100 ms)" if r.p95 > BUDGET_MS else "")
        print(f"{r.label:34} {r.median:6.1f}ms {r.p95:6.1f}ms {r.queries:7d}{mark}")
    over = [r for r in results if r.status == 200 and r.median > BUDGET_MS]
    for r in over:
        print(f"\n{r.label} ({r.path}): slowest queries of one request")
        for ms, sql in r.slowest:
            print(f"  {ms:7.1f} ms  {sql[:400]}")


def counts() -> dict[str, int]:
    from pipelines.models import ArtifactVersion, ModelVersion, PipelineRun, RunMetadata, StepRun

    return {
        "runs": PipelineRun.objects.count(),
        "steps": StepRun.objects.count(),
        "versions": ArtifactVersion.objects.count(),
        "metadata": RunMetadata.objects.count(),
        "model_versions": ModelVersion.objects.count(),
    }


def main() -> int:
    args = parse_args()
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if database_vendor(database_url) != "PostgreSQL":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (it is seeded with 10,000 runs).")
    ensure_postgres_database(database_url, recreate=args.recreate_db)
    configure(database_url, recreate=args.recreate_db)

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from seed import seed_history

    log("migrating and collecting static files")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    started = time.monotonic()
    seeded = seed_history(artifact_root=Path(settings.PIPELINES["ARTIFACT_STORE"]) / "bench")
    if seeded:
        log(f"seeded in {time.monotonic() - started:.0f} s: {seeded}")
    samples = sample_objects()
    write_sample_files(samples)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="bench"))
    results = []
    for label, path in pages(samples):
        if args.only and args.only not in label:
            continue
        log(f"{label}: {path}")
        results.append(measure(client, label, path, args.samples))
    report(results, counts())
    if args.markdown:
        markdown(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
