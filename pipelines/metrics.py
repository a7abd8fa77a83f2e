"""`/metrics` in the Prometheus text format (the official `prometheus_client`).

Two sources:

- the database, read at scrape time (`pipelines.selectors.metrics`): runs, steps,
  step durations and queue waits, workers alive, cache hits, retries, crashes,
  secret reads, artifact bytes. Any web process answers the same figures. Steps and
  attempts that ended come from running totals that a scrape folds them into
  (`pipelines.services.metrics`), so a scrape costs the same at any size of history.
- this web process: the latency of the requests it served, by route pattern and
  method. Under gunicorn with several processes, set PROMETHEUS_MULTIPROC_DIR to an
  empty folder (the client library's own variable) and each scrape adds up every
  process's figures; without it a scrape sees only the process that answered.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from pipelines.models import FINISHED_STEP_STATUSES, RunStatus
from pipelines.selectors import metrics as figures
from pipelines.services.metrics import metrics_totals_fold
from secrets_app.selectors import secret_reads_count_by_via

logger = logging.getLogger(__name__)
_warned = threading.Event()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "(unmatched)"

REQUEST_LATENCY = Histogram(
    "pipelines_http_request_duration_seconds",
    "Time this web server took to answer a request, by route pattern, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=None,  # collected per scrape (see `render`), in multiprocess mode from files
)


def observe_request(*, route: str | None, method: str, status: int, seconds: float) -> None:
    """Record one request; route is the URL pattern (`api/v1/runs/<int:pk>/`), never the path."""
    try:
        REQUEST_LATENCY.labels(
            route=route or UNMATCHED_ROUTE,
            method=method if method in KNOWN_METHODS else "other",
            status=f"{status // 100}xx",
        ).observe(seconds)
    except OSError as exc:
        # PROMETHEUS_MULTIPROC_DIR names a folder this process cannot write: the
        # request is served all the same, and the log says why its time is missing.
        if not _warned.is_set():
            _warned.set()
            logger.error("Request latency is not recorded: PROMETHEUS_MULTIPROC_DIR: %s", exc)


def _histogram(name: str, documentation: str, label: str, data: figures.HistogramRows) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, (cumulative, count, total) in sorted(data.rows.items()):
        buckets = [(repr(float(bound)), n) for bound, n in zip(data.buckets, cumulative, strict=True)]
        family.add_metric([value], [*buckets, ("+Inf", count)], total)
    return family


class DatabaseCollector(Collector):
    """Every figure read from the database, collected afresh at each scrape."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        mark = figures.folded_until()
        try:
            mark = metrics_totals_fold(mark=mark)
        except DatabaseError as exc:
            # The figures read past the mark are right all the same, only slower.
            logger.warning("/metrics: the totals were not brought up to date: %s", type(exc).__name__)

        runs = figures.runs_by_pipeline_and_status()
        gauge = GaugeMetricFamily(
            "pipelines_runs", "Pipeline runs in the database, by pipeline and status.", labels=["pipeline", "status"]
        )
        finished = CounterMetricFamily(
            "pipelines_runs_finished",
            "Runs that ended, by pipeline and final status (completed, failed, stopped).",
            labels=["pipeline", "status"],
        )
        for (pipeline, status), n in sorted(runs.items()):
            gauge.add_metric([pipeline, status], n)
            if status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.STOPPED):
                finished.add_metric([pipeline, status], n)
        yield gauge
        yield finished

        step_figures = figures.steps_by_pipeline(mark=mark)
        steps = step_figures.by_pipeline_and_status
        steps_finished = CounterMetricFamily(
            "pipelines_steps_finished",
            "Steps that ended, by pipeline and final status (cached counts cache hits).",
            labels=["pipeline", "status"],
        )
        cache_hits = CounterMetricFamily(
            "pipelines_step_cache_hits", "Steps that reused an earlier identical step's outputs.", labels=["pipeline"]
        )
        for (pipeline, status), n in sorted(steps.items()):
            if status in FINISHED_STEP_STATUSES:
                steps_finished.add_metric([pipeline, status], n)
            if status == "cached":
                cache_hits.add_metric([pipeline], n)
        yield steps_finished
        yield cache_hits

        queued = GaugeMetricFamily(
            "pipelines_steps_queued", "Steps waiting in a Celery queue for a worker, by queue.", labels=["queue"]
        )
        for queue, n in sorted(figures.steps_queued_by_queue().items()):
            queued.add_metric([queue], n)
        yield queued

        yield _histogram(
            "pipelines_step_duration_seconds",
            "Seconds from a step's start to its end (completed or failed), by pipeline.",
            "pipeline",
            step_figures.durations_by_pipeline,
        )
        yield _histogram(
            "pipelines_step_queue_wait_seconds",
            "Seconds a step waited in its queue before a worker started it, by queue.",
            "queue",
            step_figures.queue_waits_by_queue,
        )

        alive, per_queue = figures.workers_alive()
        yield GaugeMetricFamily(
            "pipelines_workers_alive", "Workers whose heartbeat is fresh (within WORKER_TIMEOUT).", value=alive
        )
        queue_workers = GaugeMetricFamily(
            "pipelines_queue_workers_alive", "Live workers consuming each queue.", labels=["queue"]
        )
        for queue, n in sorted(per_queue.items()):
            queue_workers.add_metric([queue], n)
        yield queue_workers

        attempts = CounterMetricFamily(
            "pipelines_step_attempts",
            "Step attempts by outcome; `crashed` ones were declared so by the reaper (their worker died).",
            labels=["outcome"],
        )
        by_outcome, retries = figures.attempts_by_outcome_and_retries(mark=mark)
        for outcome, n in sorted(by_outcome.items()):
            attempts.add_metric([outcome], n)
        yield attempts
        yield CounterMetricFamily(
            "pipelines_step_retries",
            "Step attempts after the first (retries after a failure or a crash).",
            value=retries,
        )

        reaper = CounterMetricFamily(
            "pipelines_reaper_actions",
            "What the reaper did that leaves no row: re-sent unclaimed step messages (resent), dispatched "
            "steps whose message was lost (redispatched), released due retries (retry_released), removed "
            "abandoned versions' files (abandoned_removed), moved stalled runs on (run_advanced).",
            labels=["action"],
        )
        for action, n in figures.reaper_actions().items():
            reaper.add_metric([action], n)
        yield reaper

        reads = CounterMetricFamily(
            "pipelines_secret_reads", "Reads of secret values, by door (api, admin, cli).", labels=["via"]
        )
        for via, n in sorted(secret_reads_count_by_via().items()):
            reads.add_metric([via], n)
        yield reads

        yield CounterMetricFamily(
            "pipelines_artifact_bytes_written",
            "Bytes of the artifact versions in the store (ready versions).",
            value=figures.artifact_bytes_written(),
        )
        yield GaugeMetricFamily(
            "pipelines_metrics_scrape_seconds",
            "Seconds the database queries of this scrape took.",
            value=time.perf_counter() - started,
        )


def render() -> bytes:
    """The whole exposition, as bytes in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_LATENCY)
    return generate_latest(registry)
