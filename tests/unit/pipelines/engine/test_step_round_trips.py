"""What one step costs the database on PostgreSQL, in statements and commits.

Each statement is a round trip, about 0.2 ms of the worker's CPU and as much of the
database's on the two-core machines the throughput targets are measured on: a
statement added to a step's path costs every step of every run, so these figures
change by decision, not by accident. (SQLite takes the general path, one move per
statement: test_inline_artifacts.py pins its budget.)
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines.engine.executor import step_run_execute
from pipelines.models import PipelineRun, StepStatus
from pipelines.services.runs import pipeline_run_create
from tests.unit.pipelines.engine import round_trip_pipelines as pipelines

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement paths are PostgreSQL's"),
]


def _statements(run_spec, owner, broker) -> tuple[list[str], PipelineRun]:
    run = pipeline_run_create(spec=run_spec, user=owner)
    first = list(broker.sent)
    broker.sent.clear()
    with CaptureQueriesContext(connection) as queries:
        for step_run_id in first:
            step_run_execute(step_run_id=step_run_id)
    run.refresh_from_db()
    assert run.status == "completed", [(s.name, s.status, s.error) for s in run.steps.all()]
    return [q["sql"] for q in queries.captured_queries], run


def _per_step(owner, broker, spec_of, sizes: tuple[int, int]) -> dict[str, float]:
    """Per step, as the slope between runs of two sizes: commits, statements (BEGIN
    and COMMIT aside), and statements of their own that set how a transaction commits."""
    counts = {}
    for size in sizes:
        statements, _ = _statements(spec_of(size), owner, broker)
        commits = sum(1 for sql in statements if re.match(r"\s*COMMIT", sql))
        begins = sum(1 for sql in statements if re.match(r"\s*BEGIN", sql))
        settings = sum(1 for sql in statements if re.match(r"\s*SELECT set_config", sql))
        counts[size] = {"commits": commits, "statements": len(statements) - commits - begins, "set_config": settings}
    small, large = sizes
    return {key: (counts[large][key] - counts[small][key]) / (large - small) for key in counts[large]}


def test_a_chain_link_is_one_commit_of_three_statements(owner, broker):
    # The step's end (with its attempt and the read of what waits on it), the run's
    # lock (which tells waiting clients), and the next step queued and claimed for
    # this worker, returning its row: nothing is read again before it runs.
    per_step = _per_step(owner, broker, lambda n: pipelines.noop_chain.compile(length=n), (6, 11))

    assert per_step == {"commits": 1, "statements": 3, "set_config": 0}


def test_a_wide_run_s_branch_costs_four_statements_and_two_commits(owner, broker):
    # Each branch: its end (flushed) with the read of its join; then, not flushed,
    # the run's lock, whether the join still waits, and a held-back branch found and
    # claimed at once.
    # (Beyond MIN_MESSAGES_SENT, the extra branches of the wider run are all held back.)
    per_step = _per_step(owner, broker, lambda n: pipelines.wide.compile(width=n), (20, 40))

    # Not flushing the second commit rides on the run's lock.
    assert per_step == {"commits": 2, "statements": 4, "set_config": 0}


def test_every_step_of_a_chain_ends_completed_with_one_attempt(owner, broker):
    _, run = _statements(pipelines.noop_chain.compile(length=5), owner, broker)

    steps = list(run.steps.order_by("id"))
    assert [s.status for s in steps] == [StepStatus.COMPLETED] * 5
    assert [s.attempt for s in steps] == [1] * 5
    assert [s.attempts.count() for s in steps] == [1] * 5
    # Queued and claimed at once, each still has the time it was queued.
    assert all(s.queued_at is not None and s.started_at >= s.queued_at for s in steps)
