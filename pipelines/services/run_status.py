"""A run's status, kept in step with its steps: every change is a move of the run
table in `services/transitions.py`, made as a conditional update.

A module of its own because both the run services (creating and stopping runs) and
the step services (a step started or ended) change it; neither imports the other
for it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone

from pipelines.models import FINISHED_STEP_STATUSES, SUCCESSFUL_STEP_STATUSES, PipelineRun, RunStatus, StepRun
from pipelines.services import hot_sql
from pipelines.services.transitions import RUNS, RowSelect, move_run


class RunChangedUnderLock(RuntimeError):
    """The run's status was not what the caller read while holding the run's row lock."""


def pipeline_run_bump(*, run_id: int) -> None:
    """Tell waiting clients that something about the run changed."""
    # Plain SQL: every step's claim and end runs this, and building the statement
    # through the ORM costs about ten times the statement itself on SQLite.
    # It changes no status, so it needs no move of the run table.
    table = connection.ops.quote_name(PipelineRun._meta.db_table)
    hot_sql.execute(f"UPDATE {table} SET revision = revision + 1 WHERE id = %s", [run_id])  # noqa: S608 (our table name)


def pipeline_run_mark_running(*, run_id: int, now: datetime, seen_status: str | None = None) -> None:
    """A step started: the run is running (if it was initializing); clients are told.

    `seen_status` is the run's status as the caller read it: when it is already past
    initializing (every step but a run's first), one statement bumps the revision.
    """
    if seen_status in (None, RunStatus.INITIALIZING) and move_run(
        run_id,
        source=[RunStatus.INITIALIZING],
        target=RunStatus.RUNNING,
        started_at=now,
        increment=("revision",),
    ):
        return
    # Another step's claim moved it first, or it is stopping: only tell the clients.
    pipeline_run_bump(run_id=run_id)


def pipeline_run_mark_running_unless_locked(*, run_id: int, now: datetime) -> bool:
    """`pipeline_run_mark_running` of an initializing run, unless another transaction
    holds the run's row (SKIP LOCKED): one statement that never waits, so a claim may
    make it while it holds its step's row. False when it did not move the run (held,
    or no longer initializing), and always off PostgreSQL: then call
    `pipeline_run_mark_running` after the claim's commit."""
    if connection.vendor != "postgresql":
        return False
    table = connection.ops.quote_name(PipelineRun._meta.db_table)
    free = RowSelect(f"SELECT id FROM {table} WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", [run_id])  # noqa: S608
    statement = RUNS.move_one_statement(
        free, source=[RunStatus.INITIALIZING], target=RunStatus.RUNNING, increment=("revision",), started_at=now
    )
    return statement is not None and bool(hot_sql.execute_count(*statement))


def _derived_status(run: PipelineRun, statuses: list[str]) -> str | None:
    """What the run's status becomes given its steps' statuses; None while it goes on.

    A run ends only when every step has: stopped if it was being stopped, completed
    if every step completed or was cached, failed otherwise (independent branches
    still run to the end, as in Airflow and Dagster).
    """
    if run.is_finished or not all(status in FINISHED_STEP_STATUSES for status in statuses):
        return None
    if run.status == RunStatus.STOPPING:
        return RunStatus.STOPPED
    if all(status in SUCCESSFUL_STEP_STATUSES for status in statuses):
        return RunStatus.COMPLETED
    return RunStatus.FAILED


def pipeline_run_finish_if_done(*, run: PipelineRun, statuses: list[str] | None = None) -> None:
    """Derive the run's status from its steps and tell waiting clients; call inside
    the transaction that changed a step, with the run row locked (so `run.status`
    is the row's)."""
    if statuses is None:
        statuses = list(StepRun.objects.filter(pipeline_run_id=run.id).values_list("status", flat=True))
    target = _derived_status(run, statuses)
    if target is None:
        pipeline_run_bump(run_id=run.id)
        return
    now = timezone.now()
    if not move_run(run.id, source=[run.status], target=target, finished_at=now, increment=("revision",)):
        raise RunChangedUnderLock(f"Run {run.id} is no longer {run.status}; lock its row before deriving its status.")
    run.status, run.finished_at = target, now


def pipeline_run_mark_stopping(*, run: PipelineRun) -> bool:
    """Move a locked, unfinished run to stopping; False if it already was."""
    if run.status == RunStatus.STOPPING:
        return False
    if not move_run(run.id, source=[run.status], target=RunStatus.STOPPING, increment=("revision",)):
        raise RunChangedUnderLock(f"Run {run.id} is no longer {run.status}; lock its row before stopping it.")
    run.status = RunStatus.STOPPING
    return True
