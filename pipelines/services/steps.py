"""What happens to a step run, from queued to its end.

Every move goes through `move_steps` (a checked, conditional update). An attempt's
writes carry its number, so a late or duplicate delivery, or an attempt the reaper
has given up on, can never overwrite the outcome of the attempt that owns the step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from pipelines.dispatch import enqueue_steps_on_commit
from pipelines.models import (
    FINISHED_STEP_STATUSES,
    AttemptOutcome,
    Pipeline,
    PipelineRun,
    RunStatus,
    StepAttempt,
    StepRun,
    StepRunInput,
    StepStatus,
)
from pipelines.sdk.retry import StepRetryConfig
from pipelines.services import hot_sql
from pipelines.services.artifacts import SavedOutput, artifact_versions_make_ready
from pipelines.services.cache_resolution import step_runs_resolve_cached
from pipelines.services.metadata import run_metadata_create
from pipelines.services.model_versions import model_version_link_artifacts
from pipelines.services.run_status import (
    pipeline_run_bump,
    pipeline_run_finish_if_done,
    pipeline_run_mark_running,
    pipeline_run_mark_running_unless_locked,
)
from pipelines.services.transitions import STEPS, RowSelect, move_steps
from pipelines.services.workers import workers_live_pool_size
from pipelines.storage import artifact_store

logger = logging.getLogger(__name__)

MAX_LOG_CHARS = 1_000_000
WORKER_LOST = "worker lost"
# Named rather than "not finished" / "not successful": an IN list of statuses is
# found through the (run, status) index, a NOT IN reads every step of the run.
UNFINISHED = tuple(status for status in StepStatus.values if status not in FINISHED_STEP_STATUSES)
NOT_SUCCEEDED = tuple(status for status in StepStatus.values if status not in (StepStatus.COMPLETED, StepStatus.CACHED))


@dataclass(frozen=True)
class StepTimings:
    user_code_started_at: datetime | None
    user_code_finished_at: datetime | None


def _truncate_logs(logs: str) -> str:
    if len(logs) <= MAX_LOG_CHARS:
        return logs
    return logs[: MAX_LOG_CHARS // 2] + "\n[... log truncated ...]\n" + logs[-MAX_LOG_CHARS // 2 :]


def _lock_run(run_id: int, *, bump: bool = False, unflushed: bool = False) -> PipelineRun:
    # Serialises the end of steps within one run: two parallel branches finishing
    # together must not both miss that their join step has become ready (the one
    # that locks second reads the other's committed end).
    #
    # Lock order: a step's end takes its own step's row first and the run's row
    # last, just before it reads what became ready and commits, so the ends of a
    # run's steps wait for each other only that long: every end of a 1,000-wide run
    # waits on this row. A claim writes the run's row only after its own commit, so
    # it never holds a step's row while it waits for the run. Stopping a run, and
    # releasing a retry, lock the run, then unstarted steps (pending, queued,
    # retrying), which no one waits for the run while holding: the row a step's end
    # writes before the run's is its own running step, which a stop leaves alone.
    # (The claim once wrote its step, then the run, while a step's end locked
    # the run, then its step; with the request that sent 1,000 steps marking them
    # as sent, PostgreSQL found deadlocks.)
    # FOR NO KEY UPDATE: rows inserted meanwhile that point at the run (metadata
    # logged by a step) need not wait for it.
    # Only the columns the step services read: the spec can be large.
    #
    # With `bump`, waiting clients are told of the change the caller makes under the
    # lock (the revision goes up with its commit); `unflushed` is
    # `_commit_without_flush` for the caller's transaction. On PostgreSQL both ride
    # on the statement that takes the lock, an UPDATE (which locks the row as FOR NO
    # KEY UPDATE does): at every step's end, two round trips less.
    columns = ", ".join(f'{_RUNS}."{name}"' for name in _LOCKED_RUN_FIELDS)
    if bump and connection.vendor == "postgresql":
        flush = f", {_NO_FLUSH}" if unflushed else ""
        rows = hot_sql.execute(
            f"UPDATE {_RUNS} SET revision = revision + 1 WHERE id = %s RETURNING {columns}{flush}",  # noqa: S608
            [run_id],
        )
        rows = [row[: len(_LOCKED_RUN_FIELDS)] for row in rows]
    else:
        if unflushed:
            _commit_without_flush()
        lock = " FOR NO KEY UPDATE" if connection.features.has_select_for_no_key_update else ""
        rows = hot_sql.execute(f"SELECT {columns} FROM {_RUNS} WHERE {_RUNS}.id = %s{lock}", [run_id])  # noqa: S608
        if rows and bump:
            pipeline_run_bump(run_id=run_id)
    if not rows:
        raise PipelineRun.DoesNotExist(f"Run {run_id} does not exist.")
    return PipelineRun.from_db(connection.alias, _LOCKED_RUN_FIELDS, rows[0])


# In the model's own field order: `Model.from_db` with some fields deferred takes the
# values in that order, whatever the names say.
_LOCKED_RUN_FIELDS = tuple(
    field.attname
    for field in PipelineRun._meta.concrete_fields
    if field.attname in {"id", "status", "queue", "model_version_id"}
)


def step_run_for_attempt(step_run_id: int) -> StepRun:
    """The step run's row but its log, as a worker reads it to run it (one plain
    statement: through the ORM, building the query cost more than running it)."""
    rows = hot_sql.read_rows(
        StepRun,
        _STEP_FIELDS_BUT_LOGS,
        f"SELECT {', '.join(_STEP_COLUMNS_BUT_LOGS)} FROM {_STEPS} WHERE id = %s",  # noqa: S608 (our names)
        [step_run_id],
    )
    if not rows:
        raise StepRun.DoesNotExist(f"Step run {step_run_id} does not exist.")
    return rows[0]


_STEP_FIELDS_BUT_LOGS = tuple(field.attname for field in StepRun._meta.concrete_fields if field.name != "logs")
_STEP_COLUMNS_BUT_LOGS = tuple(
    connection.ops.quote_name(StepRun._meta.get_field(name).column) for name in _STEP_FIELDS_BUT_LOGS
)


class NextStep(NamedTuple):
    """A step handed to a worker to run next (see `step_run_complete`)."""

    step_run_id: int
    # The attempt this process claimed it with for the worker; None: the worker claims it.
    attempt: int | None = None
    # The step's row as that claim left it, when the claim returned it (PostgreSQL):
    # the worker need not read it again (`step_run_for_attempt`).
    row: StepRun | None = None


# A step's claim and end write its attempt's row as plain SQL: through the ORM,
# building each statement cost more CPU than the database spent running it.
def _claim(
    step_run_id: int | RowSelect,
    seen_attempt: int | None,
    worker: str,
    now: datetime,
    *,
    pending: bool = False,
    unflushed: bool = False,
    **fields: Any,
) -> tuple[int, StepRun | None] | None:
    """Move a queued step to running for `worker` as its next attempt, if it is still
    at `seen_attempt`, and open that attempt; the attempt's number and, on
    PostgreSQL, the step's row as the move left it (but its log), or None.

    On PostgreSQL in one statement (the attempt's row inserted from the move's
    RETURNING, which also hands back the row): round trips less on every step.
    With `pending` (PostgreSQL only), a pending step is queued and claimed in that
    one statement (see `_queue_and_claim`); `unflushed` is `_commit_without_flush`
    for the caller's transaction, on PostgreSQL in that statement too. The step may
    be a `RowSelect` (PostgreSQL only, `seen_attempt` None): found and claimed at once,
    whatever its attempt (see `_claim_held_back`)."""
    worker = worker[:255]
    fields = {"started_at": now, "heartbeat_at": now, "retry_at": None, "worker": worker, **fields}
    move: dict[str, Any] = {"source": [StepStatus.QUEUED], "target": StepStatus.RUNNING}
    if seen_attempt is None:
        move["increment"] = ("attempt",)
    else:
        fields["attempt"] = seen_attempt + 1
        move["extra_filter"] = {"attempt": seen_attempt}
    if pending:
        move.update(source=[StepStatus.PENDING], via=StepStatus.QUEUED)
        fields["queued_at"] = now
    statement = STEPS.move_one_statement(step_run_id, **move, **fields) if connection.vendor == "postgresql" else None
    if statement is not None:
        sql, params = statement
        columns = ", ".join(_STEP_COLUMNS_BUT_LOGS)
        flush = f", {_NO_FLUSH}" if unflushed else ""
        rows = hot_sql.execute(
            f"WITH moved AS ({sql} RETURNING {columns}), "  # noqa: S608 (our SQL)
            f"opened AS (INSERT INTO {_ATTEMPTS} (step_run_id, number, worker, outcome, started_at, error) "
            f"SELECT id, attempt, %s, %s, %s, '' FROM moved) SELECT {columns}{flush} FROM moved",
            [*params, worker, AttemptOutcome.RUNNING, hot_sql.db_datetime(now)],
        )
        if not rows:
            return None
        step_run = hot_sql.instance_from_row(StepRun, _STEP_FIELDS_BUT_LOGS, rows[0][: len(_STEP_FIELDS_BUT_LOGS)])
        return step_run.attempt, step_run
    if pending or seen_attempt is None or not isinstance(step_run_id, int):
        raise ValueError("This claim is one statement of PostgreSQL's; elsewhere claim a step by id and attempt.")
    if unflushed:
        _commit_without_flush()
    del move["extra_filter"]
    if not move_steps([step_run_id], **move, current_attempt=seen_attempt, **fields):
        return None
    _start_attempt(step_run_id, seen_attempt + 1, worker, now)
    return seen_attempt + 1, None


def _start_attempt(step_run_id: int, attempt: int, worker: str, now: datetime) -> None:
    hot_sql.execute(
        f"INSERT INTO {_ATTEMPTS} (step_run_id, number, worker, outcome, started_at, error) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s, '')",
        [step_run_id, attempt, worker[:255], AttemptOutcome.RUNNING, hot_sql.db_datetime(now)],
    )


def _end_attempt(step_run_id: int, attempt: int, outcome: str, error: str = "") -> None:
    hot_sql.execute(
        f"UPDATE {_ATTEMPTS} SET outcome = %s, finished_at = %s, error = %s "  # noqa: S608
        "WHERE step_run_id = %s AND number = %s AND outcome = %s",
        [outcome, hot_sql.db_datetime(timezone.now()), error, step_run_id, attempt, AttemptOutcome.RUNNING],
    )


_ATTEMPTS = f'"{StepAttempt._meta.db_table}"'
_STEPS = f'"{StepRun._meta.db_table}"'
_RUNS = f'"{PipelineRun._meta.db_table}"'
_INPUTS = f'"{StepRunInput._meta.db_table}"'


def step_run_with_run(step_run_id: int) -> StepRun:
    """The step run's row but its log, with its run's but the spec and its pipeline's
    (`.pipeline_run`, `.pipeline_run.pipeline`), as a worker reads a delivered step:
    one plain statement (through the ORM, building the join cost a millisecond)."""
    rows = hot_sql.execute(_STEP_WITH_RUN_SQL, [step_run_id])
    if not rows:
        raise StepRun.DoesNotExist(f"Step run {step_run_id} does not exist.")
    values, split = rows[0], len(_STEP_FIELDS_BUT_LOGS)
    step_run = hot_sql.instance_from_row(StepRun, _STEP_FIELDS_BUT_LOGS, values[:split])
    run_end = split + len(_RUN_FIELDS_BUT_SPEC)
    run = hot_sql.instance_from_row(PipelineRun, _RUN_FIELDS_BUT_SPEC, values[split:run_end])
    run.pipeline = hot_sql.instance_from_row(Pipeline, _PIPELINE_FIELDS, values[run_end:])
    step_run.pipeline_run = run
    return step_run


def _columns_of(model: type[Any], alias: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{connection.ops.quote_name(model._meta.get_field(name).column)}" for name in names)


_RUN_FIELDS_BUT_SPEC = tuple(field.attname for field in PipelineRun._meta.concrete_fields if field.name != "spec")
_PIPELINE_FIELDS = tuple(field.attname for field in Pipeline._meta.concrete_fields)
_STEP_WITH_RUN_SQL = (
    f"SELECT {_columns_of(StepRun, 's', _STEP_FIELDS_BUT_LOGS)}, "  # noqa: S608 (our names)
    f"{_columns_of(PipelineRun, 'r', _RUN_FIELDS_BUT_SPEC)}, {_columns_of(Pipeline, 'p', _PIPELINE_FIELDS)} "
    f"FROM {_STEPS} s JOIN {_RUNS} r ON r.id = s.pipeline_run_id "
    f'JOIN "{Pipeline._meta.db_table}" p ON p.id = r.pipeline_id WHERE s.id = %s'
)


# --- claiming and heartbeats ---------------------------------------------------------
def step_run_claim(
    *,
    step_run_id: int,
    worker: str,
    run_id: int | None = None,
    seen_attempt: int | None = None,
    cache_key: str = "",
    run_status: str | None = None,
) -> int | None:
    """Take a queued step for this worker. Returns the new attempt number, or None
    when another delivery already owns the step (or it is no longer queued).

    `seen_attempt` is the attempt number the caller read (with `run_id`, saving a
    read); claiming only from it makes the new number known without reading again.
    `run_status` is the run's status as the caller read it, if it did (it saves a
    statement on every claim but a run's first).
    """
    if run_id is None or seen_attempt is None:
        run_id, seen_attempt = StepRun.objects.values_list("pipeline_run_id", "attempt").get(id=step_run_id)
    now = timezone.now()
    with transaction.atomic():
        claimed = _claim(step_run_id, seen_attempt, worker, now, unflushed=True, cache_key=cache_key)
        if claimed is None:
            return None
        attempt = claimed[0]
        if run_status not in (None, RunStatus.INITIALIZING):
            # Never waits for the run's row (see `_bump_unless_locked`), so it may
            # share the claim's transaction without breaking the lock order.
            _bump_unless_locked(run_id)
            return attempt
        # A run's first claim moves the run in its own transaction when the run's row
        # is free: that never waits either.
        if pipeline_run_mark_running_unless_locked(run_id=run_id, now=now):
            return attempt
    # Otherwise the run's move waits for its row: after the commit, as a statement of
    # its own, so the claim holds no step's row while it waits for the run's (see
    # `_lock_run`). Until then clients see the run as it was; a step's end that ends
    # the run first finds it initializing, which may end.
    with transaction.atomic():
        _commit_without_flush()
        pipeline_run_mark_running(run_id=run_id, now=now, seen_status=run_status)
    return attempt


def _commit_without_flush() -> None:
    """Let this transaction commit without waiting for its WAL to reach the disk
    (PostgreSQL's synchronous_commit off, for this transaction only); an fsync costs
    5-15 ms on this kind of VM, more than all the rest of a step's bookkeeping.

    For a claim, and the run's status or revision after it, only: a power cut may
    lose such a commit made in the last moments (never half of it, and never one
    older than a later synchronous commit, since the WAL is flushed in order), which
    leaves the step queued, to be run again like a step whose worker died. A step's
    end, with its outputs, still commits synchronously, so a completed step survives
    a power cut.
    """
    if connection.vendor == "postgresql":
        hot_sql.execute(f"SELECT {_NO_FLUSH}", [])


# PostgreSQL's synchronous_commit off for the current transaction only.
_NO_FLUSH = "set_config('synchronous_commit', 'off', true)"


def _bump_unless_locked(run_id: int) -> None:
    """Tell waiting clients of a claim, unless another transaction holds the run's
    row: whoever holds it commits after this claim did and bumps the revision itself
    (every writer of a run's row does), so clients still see the claim. The ends of
    a wide run's steps hold that row one after another; waiting there for a bump the
    holder makes anyway halved a worker's pace."""
    if connection.vendor != "postgresql":  # SQLite: one writer at a time, no row locks
        pipeline_run_bump(run_id=run_id)
        return
    table = connection.ops.quote_name(PipelineRun._meta.db_table)
    hot_sql.execute(
        f"UPDATE {table} SET revision = revision + 1 WHERE id = "  # noqa: S608 (our table name)
        f"(SELECT id FROM {table} WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED)",
        [run_id],
    )


def step_run_heartbeat(*, step_run_id: int, attempt: int) -> bool:
    """Record that the attempt is alive. False once it no longer owns the step."""
    return bool(
        StepRun.objects.filter(id=step_run_id, status=StepStatus.RUNNING, attempt=attempt).update(
            heartbeat_at=timezone.now()
        )
    )


def step_run_flush_logs(*, step_run_id: int, attempt: int, logs: str) -> bool:
    """Store the log a running attempt has captured so far, so it can be followed
    live; it counts as a heartbeat too. False (nothing written) once the attempt no
    longer owns the step: its end, or a newer attempt, has the last word."""
    return bool(
        StepRun.objects.filter(id=step_run_id, status=StepStatus.RUNNING, attempt=attempt).update(
            logs=_truncate_logs(logs), heartbeat_at=timezone.now()
        )
    )


def _record_inputs(step_run_id: int, inputs: dict[str, int]) -> None:
    if not inputs:
        return
    rows = ", ".join(["(%s, %s, %s)"] * len(inputs))
    hot_sql.execute(
        f"INSERT INTO {_INPUTS} (step_run_id, name, artifact_version_id) VALUES {rows} "  # noqa: S608
        "ON CONFLICT DO NOTHING",
        [value for name, av_id in inputs.items() for value in (step_run_id, name, av_id)],
    )


# --- what a finished step sets in motion -------------------------------------------
@dataclass
class _StepRow:
    id: int
    name: str
    status: str
    upstream: list[str]
    enable_cache: bool | None
    queue: str
    attempt: int


def _step_rows(run: PipelineRun) -> list[_StepRow]:
    if connection.vendor == "postgresql":
        # Plain SQL: every submission reads its new steps back this way, and building
        # the ORM's query (a JSON key transform) cost more CPU than running it.
        rows = hot_sql.execute(
            f"SELECT id, name, status, upstream::text, (spec ->> 'enable_cache')::boolean, queue, attempt "  # noqa: S608
            f"FROM {_STEPS} WHERE pipeline_run_id = %s ORDER BY id",
            [run.id],
        )
        return [_StepRow(id_, name, status, json.loads(upstream), *rest) for id_, name, status, upstream, *rest in rows]
    return [
        _StepRow(*values)
        for values in StepRun.objects.filter(pipeline_run_id=run.id).values_list(
            "id", "name", "status", "upstream", "spec__enable_cache", "queue", "attempt"
        )
    ]


def _advance_ready_steps(run: PipelineRun, rows: list[_StepRow], *, keep_from: str | None = None) -> int | None:
    """Resolve cache hits among the steps whose upstream is done, queue the rest,
    and repeat while hits make more steps ready.

    With `keep_from` (a queue), one queued step of that queue is not sent to the
    broker: its id is returned for the caller, a worker consuming that queue, to run
    at once. A step of another queue is always sent: it may need another kind of
    worker. The kept step stays without a dispatch mark, so if the caller dies before
    claiming it, the reaper sends it like any lost message.
    """
    kept: int | None = None
    if run.status == RunStatus.STOPPING:
        return None
    while True:
        done = {row.name for row in rows if row.status in SUCCESSFUL}
        ready = [row for row in rows if row.status == StepStatus.PENDING and all(name in done for name in row.upstream)]
        if not ready:
            return kept
        cacheable = [row.id for row in ready if row.enable_cache is not False]
        cached = step_runs_resolve_cached(run=run, step_run_ids=cacheable) if cacheable else set()
        to_queue = [row for row in ready if row.id not in cached]
        if to_queue:
            kept_now = _queue_ready(to_queue, keep_from=keep_from if kept is None else None)
            kept = kept if kept is not None else kept_now
        for row in ready:
            row.status = StepStatus.CACHED if row.id in cached else StepStatus.QUEUED
        if not cached:
            return kept


def _queue_ready(to_queue: list[_StepRow], *, keep_from: str | None) -> int | None:
    """Move pending steps to queued and send them, each to its own queue
    (`@step(queue=...)`, else its run's), but for one of queue `keep_from`, kept back
    and returned (see `_advance_ready_steps`)."""
    ids = [row.id for row in to_queue]
    move_steps(ids, source=[StepStatus.PENDING], target=StepStatus.QUEUED, queued_at=timezone.now())
    kept = None
    if keep_from is not None:
        kept = next((row.id for row in to_queue if row.queue == keep_from), None)
    by_queue: dict[str, list[int]] = {}
    for row in to_queue:
        if row.id != kept:
            by_queue.setdefault(row.queue, []).append(row.id)
    for queue, queue_ids in by_queue.items():
        enqueue_steps_on_commit(queue_ids[: _messages_to_send(queue, len(queue_ids))], queue=queue)
    return kept


# At least this many of the steps that become ready at once on a queue are sent to
# the broker (see `_messages_to_send`).
MIN_MESSAGES_SENT = 16


def _messages_to_send(queue: str, ready: int) -> int:
    """How many of `ready` steps, queued at once on `queue`, get a broker message now.

    A message per step made a 1,000-wide run cost 1,000 publishes at its start and
    1,000 deliveries, each with its own claim: more than the steps themselves. So
    only as many are sent as the live workers consuming the queue can run at once
    (twice that, at least MIN_MESSAGES_SENT); the rest stay queued without a
    dispatch mark. A worker ending one of the run's steps on that queue claims the
    next of them in the same transaction (`_claim_held_back`), and runs it at once.
    Nothing is lost if every such worker dies: a queued step without a mark is sent
    by the reaper after PIPELINES_REDISPATCH_AFTER, like a message the broker refused.
    Without RUN_NEXT_STEP_INLINE no worker would claim them, so every step is sent.
    """
    if ready <= MIN_MESSAGES_SENT or not settings.PIPELINES["RUN_NEXT_STEP_INLINE"]:
        return ready
    return min(ready, max(MIN_MESSAGES_SENT, 2 * workers_live_pool_size(queue=queue)))


def step_runs_advance(*, run: PipelineRun) -> None:
    """Start a new run's steps: cache hits at once, the rest onto the broker; end the
    run if nothing is left to do. Call inside the transaction that created it."""
    rows = _step_rows(run)
    _advance_ready_steps(run, rows)
    pipeline_run_finish_if_done(run=run, statuses=[row.status for row in rows])


def _skip_unreachable(rows: list[_StepRow]) -> None:
    """Mark every pending step downstream of a failed or skipped one as skipped."""
    dead = {row.name for row in rows if row.status in (StepStatus.FAILED, StepStatus.SKIPPED)}
    skipped: list[_StepRow] = []
    changed = True
    while changed:
        changed = False
        for row in rows:
            if row.status == StepStatus.PENDING and row not in skipped and any(u in dead for u in row.upstream):
                dead.add(row.name)
                skipped.append(row)
                changed = True
    if skipped:
        move_steps(
            [row.id for row in skipped],
            source=[StepStatus.PENDING],
            target=StepStatus.SKIPPED,
            finished_at=timezone.now(),
        )
        for row in skipped:
            row.status = StepStatus.SKIPPED


def _after_step_end(run: PipelineRun, *, succeeded: bool = False, keep_next_to: int | None = None) -> int | None:
    """Queue what became ready, skip what never can run, end the run if it is over,
    and tell waiting clients, reading the run's steps once. With `keep_next_to` (a
    step run id), returns a step of the same queue kept for the caller (see
    `_advance_ready_steps`)."""
    rows = _step_rows(run)
    keep_from = next((row.queue for row in rows if row.id == keep_next_to), None) if keep_next_to else None
    kept = _advance_ready_steps(run, rows, keep_from=keep_from)
    if not succeeded:  # a success never makes a step unreachable
        _skip_unreachable(rows)
    pipeline_run_finish_if_done(run=run, statuses=[row.status for row in rows])
    return kept


SUCCESSFUL = (StepStatus.COMPLETED, StepStatus.CACHED)


def _after_step_success(
    run_id: int,
    step_run_id: int,
    *,
    keep_next: bool,
    worker: str | None,
    name: str,
    queue: str,
    waiting: list[_StepRow],
    unflushed: bool = False,
) -> NextStep | None:
    """`_after_step_end` for a step that completed, reading only what it can change:
    the pending steps downstream of it, and whether any step is left unfinished.
    Locks the run (see `_lock_run`).

    A success makes no step unreachable, and only the steps that wait on this one
    can become ready. Reading every step of the run instead (what `_after_step_end`
    does) made each completion in a run of N steps cost O(N): a 1,000-wide run
    crawled. A cache hit among the ready steps may make more ready, which needs the
    whole picture: then it goes the general way.

    Returns the kept step's id (see `_advance_ready_steps`) and, with `worker`, the
    attempt this transaction claimed it with for that worker (`_claim_kept`). When
    this success made nothing ready for the caller, a step of the run held back from
    the broker (see `_queue_ready`) is claimed for it instead (`_claim_held_back`).
    `name` and `queue` are the ended step's; `waiting` is `_pending_downstream` of
    it, read by the caller before the run's lock, to keep the time it is held short.
    Their upstream never changes; no other step's end can queue them before this
    one commits (they wait on it too); a stop that moves them first is seen under
    the lock, and every move is conditional. `unflushed`: the caller's transaction
    may commit without waiting for the flush (`_commit_without_flush`).
    """
    # Every way out changes a step or the run: clients are told with the lock.
    run = _lock_run(run_id, bump=True, unflushed=unflushed)
    # Under the lock, for each step that waits on others too: is it still pending (a
    # failed branch's end may have skipped it, a stop stopped it, since `waiting` was
    # read), and does it still wait on one of them.
    checked = {row.id: _still_pending_and_waiting(run_id, row.id) for row in waiting if row.upstream != [name]}
    ready = [row for row in waiting if row.upstream == [name] or not checked[row.id][1]]
    if any(row.enable_cache is not False for row in ready):
        # The run's revision is bumped in there (the run cannot have ended: a step of
        # it is kept), which tells clients of the claim too.
        kept = _after_step_end(run, succeeded=True, keep_next_to=step_run_id if keep_next else None)
        claimed = _claim_kept(kept, worker) or _claim_held_back(run, queue, worker if keep_next else None)
        if not keep_next:
            _release_held_back_unless_sent(run, queue, ready)
        return claimed
    kept = None
    if ready and run.status != RunStatus.STOPPING:
        if keep_next and worker is not None and connection.vendor == "postgresql":
            claimed = _queue_and_claim(ready, queue, worker)
            return claimed or _claim_held_back(run, queue, worker)
        kept = _queue_ready(ready, keep_from=queue if keep_next else None)
    # A waiting step found still pending under the lock is unfinished: the run goes
    # on. Otherwise ask: read before the lock, the waiting steps may have ended since
    # (a failed branch's end skipped them, a stop stopped them) while that end saw
    # this step running and left the run to this end to finish. (Asked at every end
    # of a wide run's branches, which wait for each other on the run's row, it cost
    # a statement each under the lock.)
    elif not any(pending for pending, _ in checked.values()) and not _has_unfinished(run_id):
        # Every step has ended: the run ends (completed, or failed by another branch).
        pipeline_run_finish_if_done(run=run, statuses=_statuses_of(run_id))
        return None
    claimed = _claim_kept(kept, worker, next((row.attempt for row in ready if row.id == kept), None))
    if claimed is None and keep_next:
        claimed = _claim_held_back(run, queue, worker)
    elif not keep_next:
        _release_held_back_unless_sent(run, queue, ready)
    return claimed


def _queue_and_claim(ready: list[_StepRow], queue: str, worker: str) -> NextStep | None:
    """`_queue_ready` keeping a step of `queue` for `worker`, then `_claim_kept` of it,
    with the kept step queued and claimed in one statement (PostgreSQL): a chain's
    every link is then the end of one step and the claim of the next, and nothing
    between. The kept step is never sent, as in `_queue_ready`."""
    kept = next((row for row in ready if row.queue == queue), None)
    others = [row for row in ready if row is not kept]
    if others:
        _queue_ready(others, keep_from=None)
    if kept is None:
        return None
    claimed = _claim(kept.id, kept.attempt, worker, timezone.now(), pending=True)
    # None cannot happen under the run's lock (its upstream is this end's step).
    return NextStep(kept.id, *claimed) if claimed is not None else None


def _statuses_of(run_id: int) -> list[str]:
    sql = f"SELECT status FROM {_STEPS} WHERE pipeline_run_id = %s"  # noqa: S608 (our table name)
    return [status for (status,) in hot_sql.execute(sql, [run_id])]


def _has_unfinished(run_id: int) -> bool:
    placeholders = ", ".join(["%s"] * len(UNFINISHED))
    return bool(
        hot_sql.execute(
            f"SELECT 1 FROM {_STEPS} WHERE pipeline_run_id = %s AND status IN ({placeholders}) LIMIT 1",  # noqa: S608
            [run_id, *UNFINISHED],
        )
    )


def _pending_downstream(run_id: int, name: str) -> list[_StepRow]:
    """The run's pending steps that wait on step `name` (`upstream` holds only their
    number of upstream steps when it is more than one: a join after 1,000 branches
    would otherwise send and parse its 1,000 names at every branch's end)."""
    if connection.vendor == "postgresql":
        return _downstream_rows(hot_sql.execute(*_pending_downstream_statement(run_id, name)))
    pending = StepRun.objects.filter(pipeline_run_id=run_id, status=StepStatus.PENDING)
    fields = ("id", "name", "status", "upstream", "spec__enable_cache", "queue", "attempt")
    # SQLite has no JSON containment: filtered here.
    return [_StepRow(*values) for values in pending.values_list(*fields) if name in values[3]]


def _pending_downstream_statement(run_id: int, name: str) -> tuple[str, list[Any]]:
    """`_pending_downstream`'s SELECT on PostgreSQL: its rows go to `_downstream_rows`."""
    sql = (
        "SELECT id, name, status, CASE WHEN jsonb_array_length(upstream) = 1 THEN upstream::text END, "  # noqa: S608
        f"(spec ->> 'enable_cache')::boolean, queue, attempt FROM {_STEPS} "
        "WHERE pipeline_run_id = %s AND status = %s AND upstream @> %s::jsonb"
    )
    return sql, [run_id, StepStatus.PENDING, json.dumps([name])]


def _downstream_rows(rows: Iterable[tuple[Any, ...]]) -> list[_StepRow]:
    # A step waiting on more than one is told apart by the `upstream` it lacks.
    return [
        _StepRow(id_, name_, status, json.loads(upstream) if upstream else [], *rest)
        for id_, name_, status, upstream, *rest in rows
    ]


def _claim_held_back(run: PipelineRun, queue: str, worker: str | None) -> NextStep | None:
    """Claim for `worker` a queued step of this run and queue that was held back from
    the broker (see `_queue_ready`), so the worker runs it next; None if there is none.

    Inside a transaction holding the run's row: the step's row comes second, as in
    `_claim_kept`. SKIP LOCKED: a step another worker is claiming is that worker's.
    On PostgreSQL the step is found and claimed in one statement: every end of a wide
    run's branches does this while the run's row, which the others wait for, is held.
    """
    if worker is None:
        return None
    if connection.vendor == "postgresql":
        if run.status == RunStatus.STOPPING:
            return None
        held = RowSelect(*_held_back_query(run.id, queue, " FOR UPDATE SKIP LOCKED"))
        claimed = _claim(held, None, worker, timezone.now())
        return NextStep(claimed[1].id, *claimed) if claimed is not None else None
    held_step = _held_back_step(run, queue)
    if held_step is None:
        return None
    return _claim_kept(held_step[0], worker, held_step[1])


def _held_back_step(run: PipelineRun, queue: str) -> tuple[int, int] | None:
    """A held-back step of the run and queue, locked (see `_claim_held_back`): its id and attempt."""
    if run.status == RunStatus.STOPPING:
        return None
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    held = _held_back_rows(run.id, queue, lock)
    return (held[0][0], held[0][1]) if held else None


def _held_back_rows(run_id: int, queue: str, lock: str = "") -> list[tuple[Any, ...]]:
    return hot_sql.execute(*_held_back_query(run_id, queue, lock, columns="id, attempt"))


def _held_back_query(run_id: int, queue: str, lock: str = "", *, columns: str = "id") -> tuple[str, list[Any]]:
    """A held-back step of the run and queue (see `_queue_ready`): its id, or `columns`."""
    sql = (
        f"SELECT {columns} FROM {_STEPS} WHERE pipeline_run_id = %s AND status = %s "  # noqa: S608 (our table name)
        # No ORDER BY: sorting would read every queued step of the run; the (run,
        # status) index gives them in about the order they were inserted anyway.
        f"AND queue = %s AND dispatched_at IS NULL LIMIT 1{lock}"
    )
    return sql, [run_id, StepStatus.QUEUED, queue]


def _release_held_back_unless_sent(run: PipelineRun, queue: str, ready: list[_StepRow]) -> None:
    """For a worker that does not run the next step itself (RUN_NEXT_STEP_INLINE
    off): unless a step of its queue became ready (and was sent) with this end, send
    one held-back step of the run and queue, as an inline worker would claim one.

    The process that held the steps back decided by its own setting, so workers set
    otherwise would leave the held-back steps to the reaper's next pass.
    """
    if any(row.queue == queue for row in ready):
        return
    _release_held_back(run, queue)


def _release_held_back(run: PipelineRun, queue: str) -> None:
    held = _held_back_step(run, queue)
    if held is None:
        return
    # Marked as sent now, not once the broker has it: until then it would look held
    # back to the next end, which would send it again (or claim it, and the message
    # would find it taken). A publish that fails leaves the mark: the reaper sends it
    # again after PIPELINES_REQUEUE_AFTER, as a message the broker lost.
    hot_sql.execute(
        f"UPDATE {_STEPS} SET dispatched_at = %s WHERE id = %s",  # noqa: S608 (our table name)
        [hot_sql.db_datetime(timezone.now()), held[0]],
    )
    enqueue_steps_on_commit([held[0]], queue=queue)


def _claim_kept(kept: int | None, worker: str | None, seen_attempt: int | None = None) -> NextStep | None:
    """Claim the step kept for the caller (queued a moment ago in this transaction)
    for `worker`, as `step_run_claim` would: finishing step i and claiming step i + 1
    is then one commit, not three (the end's follow-up, the claim, the run's bump).

    The lock order stays the one `_lock_run` describes: the run's row is held, then
    the kept step's row is written, as queueing it already did. Returns (id, the new
    attempt), or (id, None) without a `worker` (the caller claims it itself)."""
    if kept is None:
        return None
    if worker is None:
        return NextStep(kept)
    if seen_attempt is None:
        seen_attempt = StepRun.objects.values_list("attempt", flat=True).get(id=kept)
    claimed = _claim(kept, seen_attempt, worker, timezone.now())
    # None cannot happen under the run's lock; the caller would claim it.
    return NextStep(kept) if claimed is None else NextStep(kept, *claimed)


def _still_pending_and_waiting(run_id: int, step_run_id: int) -> tuple[bool, bool]:
    """Whether this step is still pending, and whether an upstream step of it has not
    succeeded yet: one statement that takes the names from the step's own `upstream`
    column. (As a parameter list, a join after 1,000 branches cost building and
    sending 1,000 parameters at every branch's end, with the run's row locked.)"""
    table = connection.ops.quote_name(StepRun._meta.db_table)
    if connection.vendor == "postgresql":
        names = f"SELECT jsonb_array_elements_text(upstream) FROM {table} WHERE id = %s"  # noqa: S608
    elif connection.vendor == "sqlite":
        names = f"SELECT value FROM json_each((SELECT upstream FROM {table} WHERE id = %s))"  # noqa: S608
    else:
        status, upstream = StepRun.objects.values_list("status", "upstream").get(id=step_run_id)
        waiting = StepRun.objects.filter(pipeline_run_id=run_id, name__in=upstream, status__in=NOT_SUCCEEDED)
        return status == StepStatus.PENDING, waiting.exists()
    # The statuses as an IN list: the run's unsucceeded steps are found through the
    # (run, status) index, and in a wide run the first one is nearly always upstream.
    placeholders = ", ".join(["%s"] * len(NOT_SUCCEEDED))
    sql = (
        f"SELECT status, EXISTS (SELECT 1 FROM {table} WHERE pipeline_run_id = %s "  # noqa: S608 (our table name)
        f"AND status IN ({placeholders}) AND name IN ({names})) FROM {table} WHERE id = %s"
    )
    rows = hot_sql.execute(sql, [run_id, *NOT_SUCCEEDED, step_run_id, step_run_id])
    return rows[0][0] == StepStatus.PENDING, bool(rows[0][1])


# --- ends of an attempt ----------------------------------------------------------------
@dataclass(frozen=True)
class Completion:
    """What recording a successful attempt did. False when the attempt no longer
    owned the step (nothing changed)."""

    recorded: bool
    # A step that became ready and was kept for the caller to run next (claimed for
    # the caller's worker, if it was: see `_claim_kept`).
    next_step: NextStep | None = None

    def __bool__(self) -> bool:
        return self.recorded

    @property
    def next_step_run_id(self) -> int | None:
        return self.next_step.step_run_id if self.next_step else None


def _end_owned_attempt(**end: Any) -> bool:
    """Inside a transaction: move the step to `target` if `attempt` still owns it,
    close the attempt and record its inputs (the arguments of `_end_and_read_downstream`
    but `downstream_of`). False (nothing changed) when the attempt no longer owns the step."""
    return _end_and_read_downstream(**end)[0]


def _end_and_read_downstream(
    *,
    step_run_id: int,
    attempt: int,
    target: str,
    outcome: str,
    inputs: dict[str, int],
    error: str = "",
    cache_key: str | None = None,
    downstream_of: tuple[int, str] | None = None,
    **fields: object,
) -> tuple[bool, list[_StepRow] | None]:
    """`_end_owned_attempt`, and with `downstream_of` (the run's id and the step's
    name) its `_pending_downstream`, read in the same statement on PostgreSQL (else
    None: the caller reads them)."""
    if error:
        fields["error"] = error
    if cache_key is not None:
        fields["cache_key"] = cache_key
    move = {"source": [StepStatus.RUNNING], "target": target}
    if connection.vendor == "postgresql":
        statement = STEPS.move_one_statement(step_run_id, **move, extra_filter={"attempt": attempt}, **fields)
        if statement is not None:
            read = _pending_downstream_statement(*downstream_of) if downstream_of else None
            return _end_in_one_statement(
                statement, attempt=attempt, outcome=outcome, error=error, inputs=inputs, read=read
            )
    if not move_steps([step_run_id], **move, current_attempt=attempt, **fields):
        return False, None
    _end_attempt(step_run_id, attempt, outcome, error)
    _record_inputs(step_run_id, inputs)
    return True, None


def _end_in_one_statement(
    move: tuple[str, list[Any]],
    *,
    attempt: int,
    outcome: str,
    error: str,
    inputs: dict[str, int],
    read: tuple[str, list[Any]] | None = None,
) -> tuple[bool, list[_StepRow] | None]:
    """`_end_owned_attempt` on PostgreSQL: the step's move, its attempt's end and its
    input links in one statement (a data-modifying WITH), two round trips less on
    every step; whether the step moved. With `read` (`_pending_downstream_statement`),
    its rows too, from the statement's snapshot: a round trip less again (they are
    checked again under the run's lock; see `_after_step_success`)."""
    sql, params = move
    parts = [
        f"WITH moved AS ({sql} RETURNING id), "  # noqa: S608 (our SQL)
        f"ended AS (UPDATE {_ATTEMPTS} SET outcome = %s, finished_at = %s, error = %s "
        "WHERE step_run_id IN (SELECT id FROM moved) AND number = %s AND outcome = %s)"
    ]
    params = [*params, outcome, hot_sql.db_datetime(timezone.now()), error, attempt, AttemptOutcome.RUNNING]
    if inputs:
        given = ", ".join(["(%s, %s)"] * len(inputs))
        parts.append(
            f", linked AS (INSERT INTO {_INPUTS} (step_run_id, name, artifact_version_id) "  # noqa: S608
            f"SELECT moved.id, given.name, given.version::bigint FROM moved, (VALUES {given}) AS given (name, version) "
            "ON CONFLICT DO NOTHING)"
        )
        params += [value for name, version_id in inputs.items() for value in (name, version_id)]
    if read is None:
        parts.append(" SELECT count(*) FROM moved")
        return bool(hot_sql.execute("".join(parts), params)[0][0]), None
    # One row per downstream step, each with whether the step moved; one row of
    # NULLs after that count when there is none.
    parts.append(f" SELECT (SELECT count(*) FROM moved), d.* FROM (SELECT 1) AS one LEFT JOIN ({read[0]}) AS d ON true")  # noqa: S608
    rows = hot_sql.execute("".join(parts), [*params, *read[1]])
    return bool(rows[0][0]), _downstream_rows(row[1:] for row in rows if row[1] is not None)


class _StopStarted(Exception):
    """The run began stopping between the read a decision was made on and its lock."""


def _is_stopping(run_id: int) -> bool:
    # Read without a lock: the step's row is written before the run's is locked
    # (see `_lock_run`); the caller checks again under the lock.
    return PipelineRun.objects.filter(id=run_id, status=RunStatus.STOPPING).exists()


def _lock_run_as_seen(run_id: int, *, stopping: bool) -> PipelineRun:
    """Lock the run; if whether it is stopping is no longer what the caller decided
    on, raise `_StopStarted` to roll back the transaction and decide again."""
    run = _lock_run(run_id)
    if (run.status == RunStatus.STOPPING) != stopping:
        raise _StopStarted
    return run


def _run_id_of(step_run_id: int) -> int:
    return StepRun.objects.values_list("pipeline_run_id", flat=True).get(id=step_run_id)


def step_run_complete(
    *,
    step_run_id: int,
    run_id: int | None = None,
    model_version_id: int | None = None,
    attempt: int,
    inputs: dict[str, int],
    outputs: list[SavedOutput],
    timings: StepTimings,
    logs: str,
    keep_next: bool = False,
    step_metadata: list[dict[str, Any]] | None = None,
    worker: str | None = None,
    name: str | None = None,
    queue: str | None = None,
    cache_key: str | None = None,
) -> Completion:
    """Record a successful attempt and queue what became ready; with `keep_next`,
    one ready step of the same queue is handed back to run in this process instead
    of the broker.

    `model_version_id` is the step run's own (its model's, else its pipeline's, fixed
    when the run is created; the worker read it with the step): outputs are linked to it.
    Small outputs kept in their rows (`SavedOutput.inline_files`) are committed here
    with the step's end (their store copies were not fsynced).
    With `keep_next` and `worker`, the kept step is claimed for that worker in the
    same transaction that queued it (`Completion.next_step`), or, when nothing
    became ready, a step of the run held back from the broker. `name` and `queue` are
    the step run's own, when the caller has them (they save a read). `cache_key`, if
    given, is recorded with the end (a step claimed at the previous one's end learns
    its key only once claimed).
    """
    run_id = run_id or _run_id_of(step_run_id)
    if name is None or queue is None:
        name, queue = StepRun.objects.values_list("name", "queue").get(id=step_run_id)
    with transaction.atomic():
        ended, waiting = _end_and_read_downstream(
            downstream_of=(run_id, name),
            cache_key=cache_key,
            step_run_id=step_run_id,
            attempt=attempt,
            target=StepStatus.COMPLETED,
            outcome=AttemptOutcome.COMPLETED,
            inputs=inputs,
            user_code_started_at=timings.user_code_started_at,
            user_code_finished_at=timings.user_code_finished_at,
            finished_at=timezone.now(),
            logs=_truncate_logs(logs),
        )
        if not ended:
            return Completion(recorded=False)
        version_ids = artifact_versions_make_ready(step_run_id=step_run_id, attempt=attempt, outputs=outputs)
        if model_version_id and outputs:
            model_version_link_artifacts(
                model_version_id=model_version_id, links={version_ids[o.name]: o.kind for o in outputs}
            )
        if step_metadata:
            run_metadata_create(entries=step_metadata, step_run_id=step_run_id, logged_by_id=step_run_id)
        if waiting is None:
            waiting = _pending_downstream(run_id, name)
        follow = {"keep_next": keep_next, "worker": worker if keep_next else None, "name": name, "queue": queue}
        if _is_chain_link(waiting, name):
            # The one step that waits on this one alone: its queueing (and claim) is
            # committed with this end, one transaction and its round trips less per
            # step of a chain. In a run that is one chain nothing else can end
            # meanwhile; in one with parallel branches, their ends wait for this
            # flush (the run's row is held through it).
            kept = _after_step_success(run_id, step_run_id, waiting=waiting, **follow)
            return _completion(kept)
    # Committed, and flushed to disk: the step and its outputs survive a power cut.
    # What the success sets in motion is a transaction of its own that commits
    # without waiting for the flush: it holds the run's row, for which every end of
    # a wide run's steps waits in turn, and a flush (5-15 ms here) under it made
    # that the pace of the whole run. Lost to a crash or power cut in between, it
    # is made again by `pipeline_runs_advance_stalled`, from the committed steps.
    with transaction.atomic():
        kept = _after_step_success(run_id, step_run_id, waiting=waiting, unflushed=True, **follow)
    return _completion(kept)


def _is_chain_link(waiting: list[_StepRow], name: str) -> bool:
    """Whether the only pending step downstream of step `name` waits on it alone."""
    return len(waiting) == 1 and waiting[0].upstream == [name]


def _completion(kept: NextStep | None) -> Completion:
    return Completion(recorded=True, next_step=kept)


def step_run_fail(
    *,
    step_run_id: int,
    run_id: int | None = None,
    attempt: int,
    error: str,
    inputs: dict[str, int],
    timings: StepTimings,
    logs: str,
    retryable: bool = True,
    cache_key: str | None = None,
) -> bool:
    """Record a failed attempt: retry it if its policy allows, else fail the step
    (`cache_key` as for `step_run_complete`)."""
    step_run = StepRun.objects.only("pipeline_run_id", "failure_count", "spec").get(id=step_run_id)
    retry = StepRetryConfig.from_spec(step_run.spec.get("retry"))
    retries_used = step_run.failure_count
    now = timezone.now()
    while True:
        try:
            with transaction.atomic():
                # A stopping run retries nothing.
                stopping = _is_stopping(step_run.pipeline_run_id)
                will_retry = retryable and retry is not None and retries_used < retry.max_retries and not stopping
                if will_retry:
                    when = {
                        "target": StepStatus.RETRYING,
                        "retry_at": now + timedelta(seconds=retry.wait_before(retries_used + 1)),
                    }
                else:
                    when = {"target": StepStatus.FAILED, "finished_at": now}
                if not _end_owned_attempt(
                    cache_key=cache_key,
                    step_run_id=step_run_id,
                    attempt=attempt,
                    outcome=AttemptOutcome.FAILED,
                    inputs=inputs,
                    error=error,
                    user_code_started_at=timings.user_code_started_at,
                    user_code_finished_at=timings.user_code_finished_at,
                    logs=_truncate_logs(logs),
                    failure_count=F("failure_count") + 1,
                    **when,
                ):
                    return False
                _after_step_end(_lock_run_as_seen(step_run.pipeline_run_id, stopping=stopping))
            return True
        except _StopStarted:
            continue


def step_run_claim_held_back(*, run_id: int, queue: str, worker: str) -> NextStep | None:
    """After a step of the run failed on `worker`: claim the next step of the run and
    queue held back from the broker (see `_queue_ready`), as a success does, so the
    others go on at once rather than after PIPELINES_REDISPATCH_AFTER."""
    if not _held_back_rows(run_id, queue):
        # Most often so (a run that is not wide, or whose held-back steps all went):
        # then no wait for the run's row, which every end of the run's steps takes.
        return None
    with transaction.atomic():
        claimed = _claim_held_back(_lock_run(run_id, bump=True, unflushed=True), queue, worker)
    return claimed


def step_run_release_held_back(*, run_id: int, queue: str) -> None:
    """`step_run_claim_held_back` for a worker that does not run the next step
    itself (RUN_NEXT_STEP_INLINE off): send the step to the broker instead."""
    if not _held_back_rows(run_id, queue):
        return  # as in `step_run_claim_held_back`
    with transaction.atomic():
        _commit_without_flush()
        _release_held_back(_lock_run(run_id), queue)


# --- the reaper's work ---------------------------------------------------------------------
def step_runs_release_due_retries(*, now: datetime | None = None) -> list[int]:
    """Queue again the retrying steps whose delay is over."""
    now = now or timezone.now()
    due = list(
        StepRun.objects.filter(status=StepStatus.RETRYING, retry_at__lte=now).values_list(
            "id", "pipeline_run_id", "queue"
        )
    )
    released = []
    for step_run_id, run_id, queue in due:
        with transaction.atomic():
            # The run's row first, as stopping the run does: both then write the
            # retrying step, which no one holding the run's row waits for.
            _lock_run(run_id)
            if move_steps(
                [step_run_id],
                source=[StepStatus.RETRYING],
                target=StepStatus.QUEUED,
                extra_filter={"retry_at__lte": now},
                queued_at=now,
                dispatched_at=None,
                retry_at=None,
            ):
                enqueue_steps_on_commit([step_run_id], queue=queue)
                pipeline_run_bump(run_id=run_id)
                released.append(step_run_id)
    return released


def step_runs_reap_crashed(*, timeout: float, crash_budget: int, now: datetime | None = None) -> list[int]:
    """Give up on attempts whose worker stopped heartbeating: retry them under the
    crash budget, or fail them with "worker lost"."""
    now = now or timezone.now()
    stale = list(
        StepRun.objects.filter(
            status=StepStatus.RUNNING, heartbeat_at__lt=now - timedelta(seconds=timeout)
        ).values_list("id", "pipeline_run_id", "attempt", "crash_count", "queue")
    )
    reaped = []
    for step_run_id, run_id, attempt, crash_count, queue in stale:
        while True:
            try:
                if _reap_one(step_run_id, run_id, attempt, crash_count, queue, timeout, crash_budget, now):
                    reaped.append(step_run_id)
                break
            except _StopStarted:
                continue
    return reaped


def _reap_one(
    step_run_id: int,
    run_id: int,
    attempt: int,
    crash_count: int,
    queue: str,
    timeout: float,
    crash_budget: int,
    now: datetime,
) -> bool:
    """Give up on one stale attempt; False if it was not stale after all. The step's
    row first, the run's last (see `_lock_run`)."""
    with transaction.atomic():
        stopping = _is_stopping(run_id)
        still_stale = {"heartbeat_at__lt": now - timedelta(seconds=timeout)}
        if crash_count < crash_budget and not stopping:
            moved = move_steps(
                [step_run_id],
                source=[StepStatus.RUNNING],
                target=StepStatus.QUEUED,
                current_attempt=attempt,
                extra_filter=still_stale,
                crash_count=F("crash_count") + 1,
                queued_at=now,
                dispatched_at=None,
            )
            if moved:
                enqueue_steps_on_commit([step_run_id], queue=queue)
        else:
            moved = move_steps(
                [step_run_id],
                source=[StepStatus.RUNNING],
                target=StepStatus.FAILED if not stopping else StepStatus.STOPPED,
                current_attempt=attempt,
                extra_filter=still_stale,
                crash_count=F("crash_count") + 1,
                finished_at=now,
                error=f"{WORKER_LOST}: the worker running attempt {attempt} stopped heartbeating "
                f"{crash_count + 1} time(s); the crash budget is {crash_budget}.",
            )
        if moved:
            _end_attempt(step_run_id, attempt, AttemptOutcome.CRASHED, WORKER_LOST)
            _after_step_end(_lock_run_as_seen(run_id, stopping=stopping))
            transaction.on_commit(lambda: _remove_attempt_outputs(run_id, step_run_id, attempt))
        return bool(moved)


def _remove_attempt_outputs(run_id: int, step_run_id: int, attempt: int) -> None:
    """Remove what a lost attempt wrote to its outputs' folders. Outputs written
    durably were reserved first and are also removed through their pending versions
    (`artifact_versions_cleanup_abandoned`); the small ones never were (see the
    executor's `_reserve_outputs`), nor are files the step wrote there itself before
    any output was saved."""
    store = artifact_store()
    outputs = StepRun.objects.values_list("spec", flat=True).get(id=step_run_id).get("outputs", [])
    for index in range(len(outputs)):
        uri = store.uri_for(run_id=run_id, step_run_id=step_run_id, attempt=attempt, output_index=index)
        try:
            store.remove(uri)
        except OSError as exc:
            logger.warning("Could not remove %s, written by a lost attempt of step run %s: %s", uri, step_run_id, exc)


def pipeline_runs_advance_stalled(*, grace: float, now: datetime | None = None) -> list[int]:
    """Move on the unfinished runs with nothing queued, running or retrying whose
    last step ended over `grace` seconds ago: queue the steps that are ready, skip
    the unreachable ones, end the run when every step has. A step's end does that in
    a second transaction (see `step_run_complete`); this recovers one lost to a crash
    between the two. Returns the ids of the runs it changed."""
    now = now or timezone.now()
    busy = StepRun.objects.filter(
        pipeline_run_id=OuterRef("pk"), status__in=[StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.RETRYING]
    )
    recent = StepRun.objects.filter(pipeline_run_id=OuterRef("pk"), finished_at__gte=now - timedelta(seconds=grace))
    stalled = (
        PipelineRun.objects.filter(status__in=[RunStatus.INITIALIZING, RunStatus.RUNNING, RunStatus.STOPPING])
        .filter(~Exists(busy), ~Exists(recent), created_at__lt=now - timedelta(seconds=grace))
        .values_list("id", flat=True)
    )
    moved = []
    for run_id in stalled:
        with transaction.atomic():
            run = _lock_run(run_id)
            if run.is_finished:
                continue
            before = list(StepRun.objects.filter(pipeline_run_id=run_id).values_list("id", "status"))
            _after_step_end(run)
            if run.is_finished or before != list(
                StepRun.objects.filter(pipeline_run_id=run_id).values_list("id", "status")
            ):
                moved.append(run_id)
    return moved


def step_runs_redispatch_lost(*, grace: float, now: datetime | None = None) -> list[int]:
    """Send again the queued steps whose message never reached the broker."""
    now = now or timezone.now()
    lost = list(
        StepRun.objects.filter(
            status=StepStatus.QUEUED, dispatched_at=None, queued_at__lt=now - timedelta(seconds=grace)
        ).values_list("id", "queue")
    )
    by_queue: dict[str, list[int]] = {}
    for step_run_id, queue in lost:
        by_queue.setdefault(queue, []).append(step_run_id)
    sent: list[int] = []
    # One publish of each queue's steps, marked with one statement: a wide run's
    # held-back steps left for the reaper number in the thousands, and a transaction,
    # a mark and a check per step kept the worker's heartbeat thread (which runs the
    # reaper) away for tens of seconds, long enough for the worker to look dead.
    for queue, step_run_ids in by_queue.items():
        with transaction.atomic():
            enqueue_steps_on_commit(step_run_ids, queue=queue)
        refused = _first_refused(step_run_ids)
        if refused is None:
            sent += step_run_ids
            continue
        # The publish stopped at this one (see `_broker_took`): so does the pass.
        sent += step_run_ids[: step_run_ids.index(refused) + 1]
        break
    return sent


def _first_refused(step_run_ids: list[int]) -> int | None:
    """The first of these steps, just published in this order, whose message did not
    reach the broker (the publish stops there); None if all did."""
    if transaction.get_connection().in_atomic_block:
        return None  # a caller's transaction holds the publish until it commits
    marked = set(StepRun.objects.filter(id__in=step_run_ids, dispatched_at__isnull=False).values_list("id", flat=True))
    return next((step_run_id for step_run_id in step_run_ids if step_run_id not in marked), None)


def _broker_took(step_run_id: int) -> bool:
    """Whether the message just sent for a step reached the broker: the publish writes
    its dispatch mark only then.

    A pass stops at the first refusal. The broker is away, and every further try would
    cost the reaper (the worker's heartbeat thread) the connection timeout again;
    the steps left over keep their marks and go on the next pass.
    """
    if transaction.get_connection().in_atomic_block:
        return True  # a caller's transaction holds the publish until it commits
    return StepRun.objects.filter(id=step_run_id, dispatched_at__isnull=False).exists()


def resend_interval(*, waited: timedelta, after: float, longest: float) -> timedelta:
    """How long after its last send a queued step that nobody claimed is sent again.

    The wait it had already done when last sent, kept between `after` and `longest`:
    sends at 0, after, 2 after, 4 after, ... then every `longest`. A step that waits
    behind busy workers costs the broker a few duplicates, not one per reaper pass.
    """
    seconds = min(max(waited.total_seconds(), after), longest)
    return timedelta(seconds=seconds)


def step_runs_resend_unclaimed(*, after: float, longest: float, now: datetime | None = None) -> list[int]:
    """Send again the queued steps the broker had but nobody claimed in time.

    A broker can lose what it was handed: Redis restarted without persistence, a
    RabbitMQ queue deleted or purged. Nothing tells us, so a step still queued
    `resend_interval` after its last send is sent again. A duplicate of a message
    that was not lost is harmless: the claim lets one delivery run the step.
    """
    now = now or timezone.now()
    unclaimed = StepRun.objects.filter(
        status=StepStatus.QUEUED, dispatched_at__lte=now - timedelta(seconds=after)
    ).values_list("id", "queued_at", "dispatched_at", "queue")
    resent = []
    for step_run_id, queued_at, dispatched_at, queue in unclaimed:
        waited = dispatched_at - queued_at if queued_at else timedelta(0)
        if now - dispatched_at < resend_interval(waited=waited, after=after, longest=longest):
            continue
        with transaction.atomic():
            # Clearing the mark is the claim on this re-send (another worker's reaper
            # may hold the same row); the publish writes the mark again once the broker
            # has the message, and a failed publish leaves it clear, so the next pass of
            # `step_runs_redispatch_lost` tries again without waiting another interval.
            claimed = StepRun.objects.filter(
                id=step_run_id, status=StepStatus.QUEUED, dispatched_at=dispatched_at
            ).update(dispatched_at=None)
            if claimed:
                enqueue_steps_on_commit([step_run_id], queue=queue)
        if not claimed:
            continue
        resent.append(step_run_id)
        if not _broker_took(step_run_id):
            break
    return resent


def step_runs_stop(*, step_run_ids: Iterable[int]) -> int:
    """Stop steps that have not started; running ones are left to finish."""
    return move_steps(
        step_run_ids,
        source=[StepStatus.PENDING, StepStatus.QUEUED, StepStatus.RETRYING],
        target=StepStatus.STOPPED,
        finished_at=timezone.now(),
    )
