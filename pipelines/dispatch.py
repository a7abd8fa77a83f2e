"""Putting step runs on the broker, only once the rows that describe them are committed.

The step task is sent by name, never imported: the task imports the engine, which
imports the step services, which call this module, so importing the task here would
close that loop (see tests/unit/test_import_cycles.py).
"""

from __future__ import annotations

import json
import logging

from celery import current_app
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from pipelines.models import StepRun
from pipelines.services import hot_sql

logger = logging.getLogger(__name__)

# The name `pipelines.tasks.run_step` is registered under; messages already on a
# broker carry it, so it must not change.
STEP_TASK = "pipelines.run_step"


def send_step(step_run_id: int, *, queue: str) -> None:
    """Publish one step run's message (ids only) to its queue (`StepRun.queue`)."""
    current_app.send_task(STEP_TASK, args=[step_run_id], queue=queue)


def enqueue_steps_on_commit(step_run_ids: list[int], *, queue: str) -> None:
    if not step_run_ids:
        return

    def publish() -> None:
        sent = []
        for position, step_run_id in enumerate(step_run_ids):
            try:
                send_step(step_run_id, queue=queue)
            except Exception:
                # The rows are committed, so nothing is lost: the reaper sends every
                # queued step without a dispatch mark again. Stop at the first refusal:
                # each further try would cost this request (a run's submission, a
                # worker's step end) another connection timeout while the broker is away.
                logger.exception(
                    "Could not send step run %s to the broker; it and %d more will be sent by the reaper",
                    step_run_id,
                    len(step_run_ids) - position - 1,
                )
                break
            sent.append(step_run_id)
        # Only now is the message safe with the broker.
        if sent:
            try:
                _mark_sent(sent)
            except DatabaseError:
                # The mark only spares the reaper a send: without it a step still
                # queued after the grace period is sent again, and the claim makes that
                # copy harmless. The run is committed, so its creator must not see a 500.
                logger.warning("Could not mark %d step run(s) as sent; the reaper may send them again", len(sent))

    transaction.on_commit(publish)


def _mark_sent(step_run_ids: list[int]) -> None:
    """Give the steps without a dispatch mark one, as of now: one plain statement
    whatever the number of steps (the ORM's update cost more CPU to build than the
    database took to run it, on every submission and every send by a worker)."""
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        ids, chosen = "= ANY(%s::bigint[])", step_run_ids
    else:  # SQLite: the ids as one JSON list, whatever their number
        ids, chosen = "IN (SELECT value FROM json_each(%s))", json.dumps(step_run_ids)
    # S608: only the model's quoted table and column names go into the text.
    sql = (
        f"UPDATE {quote(StepRun._meta.db_table)} SET {quote('dispatched_at')} = %s "  # noqa: S608
        f"WHERE {quote('id')} {ids} AND {quote('dispatched_at')} IS NULL"
    )
    hot_sql.execute_count(sql, [hot_sql.db_datetime(timezone.now()), chosen])
