"""The legal moves of every status, and the one function per status that makes them.

Each status field (step runs, pipeline runs, model version stages, artifact
versions) has one table of legal moves here. A move is a conditional update
(`WHERE status IN (...)`, plus the attempt when an attempt makes it) whose row
count says whether it happened, so two processes racing for the same row can never
both win; asking for a move the table does not list raises `IllegalTransition`
before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.db.models import F

from pipelines.models import (
    ArtifactVersion,
    ArtifactVersionStatus,
    ModelStage,
    ModelVersion,
    PipelineRun,
    RunStatus,
    StepRun,
    StepStatus,
)
from pipelines.services import hot_sql


class IllegalTransition(Exception):
    """A service asked for a move the state machine does not allow (a programming error)."""


@dataclass(frozen=True)
class RowSelect:
    """The row a one-row move writes, as a subquery that selects its id (SQL with %s
    parameters): a row found and moved in one statement."""

    sql: str
    params: list[Any]


@dataclass(frozen=True)
class StateMachine:
    """One status field of one model and its table of legal moves."""

    what: str  # how messages name a row: "a step", "a run", ...
    model: type[models.Model]
    field: str
    moves: Mapping[str, frozenset[str]]

    def allows(self, source: str, target: str) -> bool:
        return target in self.moves[source]

    def check(self, source: str, target: str) -> None:
        if not self.allows(source, target):
            raise IllegalTransition(f"{self.what[0].upper()}{self.what[1:]} cannot go from {source} to {target}.")

    def move(
        self,
        ids: Iterable[int],
        *,
        source: Iterable[str],
        target: str,
        extra_filter: Mapping[str, Any] | None = None,
        increment: Iterable[str] = (),
        **fields: Any,
    ) -> int:
        """Move the given rows that are in one of `source` to `target`, the fields in
        `increment` going up by one (a run's revision); return how many moved."""
        sources = list(source)
        for status in sources:
            self.check(status, target)
        ids, increment = list(ids), tuple(increment)
        if len(ids) == 1 and _plain(extra_filter, as_filter=True) and _plain(fields):
            # One row with plain values: the statement the ORM would send, written here
            # (a step's claim and end, a run's start and end each make such a move, and
            # building the UPDATE through the ORM cost more CPU than the database spent
            # running it).
            return hot_sql.execute_count(
                *self._move_one_statement(ids[0], sources, target, extra_filter or {}, fields, increment)
            )
        query = self.model._default_manager.filter(id__in=ids, **{f"{self.field}__in": sources}, **(extra_filter or {}))
        return query.update(**{self.field: target}, **fields, **{name: F(name) + 1 for name in increment})

    def move_one_statement(
        self,
        row_id: int | RowSelect,
        *,
        source: Iterable[str],
        target: str,
        via: str | None = None,
        extra_filter: Mapping[str, Any] | None = None,
        increment: Iterable[str] = (),
        **fields: Any,
    ) -> tuple[str, list[Any]] | None:
        """The UPDATE (SQL, parameters) `move` would run for one row, for a caller
        that sends it with what follows from it in one statement (a PostgreSQL
        data-modifying WITH: `... RETURNING id` added); None when the values are not
        plain (see `_plain`): then call `move`.

        With `via`, the row passes through that status on its way to `target`, in the
        one write, as two moves in one transaction would (each hop must be legal):
        a step queued and claimed at once by the worker that made it ready. The row
        may be a `RowSelect` (a held-back step found and claimed at once), and the
        fields in `increment` go up by one (its attempt number)."""
        sources = list(source)
        for status in sources:
            self.check(status, via or target)
        if via is not None:
            self.check(via, target)
        if not (_plain(extra_filter, as_filter=True) and _plain(fields)):
            return None
        return self._move_one_statement(row_id, sources, target, extra_filter or {}, fields, tuple(increment))

    def _move_one_statement(
        self,
        row_id: int | RowSelect,
        sources: list[str],
        target: str,
        extra_filter: Mapping[str, Any],
        fields: Mapping[str, Any],
        increment: tuple[str, ...] = (),
    ) -> tuple[str, list[Any]]:
        meta = self.model._meta
        setters = {self.field: target, **fields}
        assignments = [f"{_column(meta, name)} = %s" for name in setters]
        assignments += [f"{_column(meta, name)} = {_column(meta, name)} + 1" for name in increment]
        conditions = [f"{_column(meta, name)} = %s" for name in extra_filter]
        row = f"({row_id.sql})" if isinstance(row_id, RowSelect) else "%s"
        sql = (
            f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608 (our names)
            f"WHERE id = {row} AND {_column(meta, self.field)} IN ({', '.join(['%s'] * len(sources))})"
            + "".join(f" AND {condition}" for condition in conditions)
        )
        params = [_db_value(meta, name, value) for name, value in setters.items()]
        params += [*(row_id.params if isinstance(row_id, RowSelect) else [row_id]), *sources]
        params += [_db_value(meta, name, value) for name, value in extra_filter.items()]
        return sql, params


def _plain(values: Mapping[str, Any] | None, *, as_filter: bool = False) -> bool:
    """Only plain values of concrete fields: no lookups, F() or model instances (and,
    in a filter, no None, which the ORM turns into IS NULL)."""
    return all(
        "__" not in name
        and not hasattr(value, "resolve_expression")
        and not isinstance(value, models.Model)
        and not (as_filter and value is None)
        for name, value in (values or {}).items()
    )


def _column(meta: Any, name: str) -> str:
    return connection.ops.quote_name(meta.get_field(name).column)


def _db_value(meta: Any, name: str, value: Any) -> Any:
    return meta.get_field(name).get_db_prep_save(value, connection)


S = StepStatus
STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    # pending -> cached is a cache hit resolved as the step becomes ready.
    S.PENDING: frozenset({S.QUEUED, S.CACHED, S.SKIPPED, S.STOPPED}),
    S.QUEUED: frozenset({S.RUNNING, S.STOPPED}),
    # running -> queued is a crashed attempt being retried.
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.RETRYING, S.QUEUED, S.STOPPED}),
    S.RETRYING: frozenset({S.QUEUED, S.STOPPED}),
    S.COMPLETED: frozenset(),
    S.CACHED: frozenset(),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
    S.STOPPED: frozenset(),
}
STEPS = StateMachine("a step", StepRun, "status", STEP_TRANSITIONS)

R = RunStatus
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    # A run ends straight from initializing when its steps end without one being
    # claimed (every step a cache hit).
    R.INITIALIZING: frozenset({R.RUNNING, R.STOPPING, R.COMPLETED, R.FAILED}),
    R.RUNNING: frozenset({R.STOPPING, R.COMPLETED, R.FAILED}),
    # A stopping run lets its running steps finish, then it is stopped, whatever they did.
    R.STOPPING: frozenset({R.STOPPED}),
    R.COMPLETED: frozenset(),
    R.FAILED: frozenset(),
    R.STOPPED: frozenset(),
}
RUNS = StateMachine("a run", PipelineRun, "status", RUN_TRANSITIONS)

M = ModelStage
# As in ZenML: a version may move from any stage to any other, archived included (a
# rollback un-archives the old production version in one call). Staying in a stage
# is not a move: the service treats it as done.
MODEL_STAGE_TRANSITIONS: dict[str, frozenset[str]] = {
    stage: frozenset(ModelStage.values) - {stage} for stage in ModelStage.values
}
MODEL_STAGES = StateMachine("a model version", ModelVersion, "stage", MODEL_STAGE_TRANSITIONS)

A = ArtifactVersionStatus
ARTIFACT_VERSION_TRANSITIONS: dict[str, frozenset[str]] = {
    # An abandoned pending version is deleted (files and row), never moved.
    A.PENDING: frozenset({A.READY}),
    A.READY: frozenset(),  # versions never change once readers can see them
}
ARTIFACT_VERSIONS = StateMachine("an artifact version", ArtifactVersion, "status", ARTIFACT_VERSION_TRANSITIONS)


def check_transition(source: str, target: str) -> None:
    """Refuse a step move the table does not list."""
    STEPS.check(source, target)


def move_steps(
    step_run_ids: Iterable[int],
    *,
    source: Iterable[str],
    target: str,
    current_attempt: int | None = None,
    extra_filter: dict[str, Any] | None = None,
    **fields: Any,
) -> int:
    """Move the given steps that are in one of `source` to `target`; return how many moved."""
    if current_attempt is not None:
        extra_filter = {**(extra_filter or {}), "attempt": current_attempt}
    return STEPS.move(step_run_ids, source=source, target=target, extra_filter=extra_filter, **fields)


def move_run(run_id: int, *, source: Iterable[str], target: str, **fields: Any) -> bool:
    """Move one run that is in one of `source` to `target`; False if it was not."""
    return bool(RUNS.move([run_id], source=source, target=target, **fields))


def move_model_version(version_id: int, *, source: str, target: str, **fields: Any) -> bool:
    """Move one model version from stage `source` to `target`; False if it was not there."""
    return bool(MODEL_STAGES.move([version_id], source=[source], target=target, **fields))


def move_artifact_version(version_id: int, *, source: str, target: str, **fields: Any) -> bool:
    """Move one artifact version from `source` to `target`; False if it was not there."""
    return bool(ARTIFACT_VERSIONS.move([version_id], source=[source], target=target, **fields))
