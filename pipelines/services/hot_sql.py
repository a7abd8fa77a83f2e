"""Plain SQL for the statements every step runs (its claim, its end, what the end
sets in motion), sent so the database plans each of them once per connection.

Through the ORM, building such a statement cost more CPU than the database spent
running it. On PostgreSQL they go through a server-side binding cursor, whose
statements psycopg prepares after their second use in a connection: the database
then parses and plans each once, not at every step. Django's own cursors bind on
the client and never prepare (so connection poolers in transaction mode keep
working); PIPELINES_DB_PREPARED_STATEMENTS=false does the same for these, for a
pooler that does not support prepared statements (PgBouncer before 1.21).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Field, Model

# How many uses of a statement in one connection before psycopg prepares it.
PREPARE_AFTER = 2


def hot_cursor() -> Any:
    """A cursor for the hot statements: Django's own wrapper (so query logging and
    execute wrappers see them), over a server-side binding cursor on PostgreSQL."""
    if (
        connection.vendor != "postgresql"
        or not settings.PIPELINES["DB_PREPARED_STATEMENTS"]
        # Django's query log (DEBUG, CaptureQueriesContext) reads a statement's text
        # back from a client-binding cursor only: then the statements go as all others.
        or connection.queries_logged
    ):
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Only server-side binding cursors prepare: Django's client-side ones, which
        # every other query uses, are unaffected.
        raw.prepare_threshold = PREPARE_AFTER
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(raw))


def execute(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run one hot statement; its rows, if it returns any."""
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def execute_count(sql: str, params: list[Any]) -> int:
    """Run one hot write; how many rows it changed."""
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# Per column that needs them: its index, the converters the ORM would run on it
# (the backend's, then the field's) and the expression they take.
Converters = list[tuple[int, tuple[list[Callable[..., Any]], Any]]]


def converters_for(fields: Sequence[Field]) -> Converters:
    """The converters the ORM would run on each of these columns (SQLite hands back
    datetimes and JSON as text): build once per statement, apply with `convert`."""
    result = []
    for index, field in enumerate(fields):
        expression = field.get_col(field.model._meta.db_table)
        chain = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if chain:
            result.append((index, (chain, expression)))
    return result


def convert(row: Sequence[Any], converters: Converters) -> list[Any]:
    """A raw row's values as the ORM would hand them out (see `converters_for`)."""
    values = list(row)
    for index, (chain, expression) in converters:
        value = values[index]
        for converter in chain:
            value = converter(value, expression, connection)
        values[index] = value
    return values


def read_rows(model: type[Model], fields: tuple[str, ...], sql: str, params: list[Any]) -> list[Model]:
    """Instances of `model` from a hot SELECT of `fields` (attnames, in the model's
    field order, as `Model.from_db` takes them): each value converted as the ORM
    would; the other fields are deferred."""
    return [instance_from_row(model, fields, row) for row in execute(sql, params)]


def instance_from_row(model: type[Model], fields: Sequence[str], values: Sequence[Any]) -> Any:
    """An instance of `model` from the raw values of `fields` (attnames, in the
    model's field order), each converted as the ORM would."""
    names = tuple(fields)
    converted = convert(values, _model_converters(model, names, connection.vendor))
    return model.from_db(connection.alias, list(names), converted)


@cache
def _model_converters(model: type[Model], names: tuple[str, ...], vendor: str) -> Converters:
    # Once per process: a worker reads a step this way at every step.
    return converters_for([model._meta.get_field(name) for name in names])


def db_datetime(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)
