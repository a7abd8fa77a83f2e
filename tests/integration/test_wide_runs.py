"""Wide runs on PostgreSQL with several workers: no deadlock, no 500, no crawl.

Every step of a wide run claims and ends against the same run row. When the claim
wrote its step's row before the run's and the end of a step the run's before its
step's, and the submitting request marked 1,000 steps as sent meanwhile, PostgreSQL
found deadlocks: `POST /api/v1/runs/` answered 500 and workers waited in
`step_run_complete` until the heartbeat timeout recovered their steps.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.integration import wide_pipelines
from tests.integration.conftest import start_worker, stop_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RUNS = 10
WIDTH = 200
QUEUE = "wide-test"


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        # The statistics this backend already read are cached for its transaction.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="SQLite takes one writer at a time (no row locks), so it cannot deadlock this way; PostgreSQL only",
)
def test_ten_wide_runs_on_several_workers_end_without_a_deadlock_or_a_500(running_worker, settings, tmp_path):
    settings.PIPELINES = {**settings.PIPELINES, "QUEUE": QUEUE}
    deadlocks_before = _deadlocks()
    workers = [start_worker(tmp_path / f"wide-{n}.log", queue=QUEUE, concurrency=2) for n in range(2)]
    runs, errors = [], []

    def submit() -> None:
        try:
            runs.append(wide_pipelines.wide_pipeline.with_options(wait=False)(width=WIDTH))
        except Exception as exc:  # a 500 from the server is a ServerError here
            errors.append(exc)

    started = time.monotonic()
    try:
        # Submitted from two threads while the workers run the earlier runs' steps:
        # the submissions race each other and the steps' ends.
        for _ in range(RUNS // 2):
            threads = [threading.Thread(target=submit) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        for run in runs:
            run.wait(timeout=150)
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            stop_worker(worker)

    assert [run.status for run in runs] == ["completed"] * RUNS
    logs = "".join(Path(worker.log_path).read_text(errors="replace") for worker in workers)
    assert "deadlock detected" not in logs
    time.sleep(1.0)  # the statistics are flushed at most once a second
    assert _deadlocks() == deadlocks_before
    # A deadlock's victim waits for the heartbeat timeout; 2,010 no-op steps do not.
    assert elapsed < 120, f"{RUNS} runs of {WIDTH + 1} steps took {elapsed:.0f} s"
