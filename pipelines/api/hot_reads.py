"""Hand-written SQL for the reads every Client call pays for.

Building an ORM query costs this machine's Python about half a millisecond before the
database sees it (joins, column lists, converters), several times what PostgreSQL
takes to answer it. Three reads sit on the Client's hot path: the token check every
API request makes, and `get_artifact_version(name, version)` or by id. Here they are
plain statements (one for the token, two for a version), written once per process from
the models' own table and column names, with the ORM's own value converters applied
(SQLite hands back datetimes as text, JSON as text), so what comes out matches what
the ORM would build. Tests pin each against its ORM equivalent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field, Model

from pipelines import access
from pipelines.api.serializers import VERSION_FIELDS, iso_datetime
from pipelines.models import ApiToken, Artifact, ArtifactVersion, ArtifactVersionStatus, RunMetadata, StepRun
from pipelines.selectors.api import latest_metadata
from pipelines.services import hot_sql

Row = Sequence[Any]


def _columns(alias: str, fields: Sequence[Field]) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in fields)


def _fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    # In the model's own order: `Model.from_db` matches a partial row by position.
    wanted = {model._meta.get_field(name) for name in names}
    return [field for field in model._meta.concrete_fields if field in wanted]


# --- the token check ---------------------------------------------------------------
_TOKEN_FIELDS = ("id", "user", "last_used_at", "expires_at", "step_run", "attempt")
_STEP_FIELDS = ("id", "pipeline_run", "status", "attempt")


@cache
def _token_query(vendor: str) -> tuple[str, list[Field], list[Field], list[Field], hot_sql.Converters]:
    user_model = get_user_model()
    quote = connection.ops.quote_name
    token_fields = _fields(ApiToken, _TOKEN_FIELDS)
    user_fields = list(user_model._meta.concrete_fields)
    step_fields = _fields(StepRun, _STEP_FIELDS)
    user_pk = quote(user_model._meta.pk.column)
    # S608: only quoted table and column names from the models go into the text;
    # every value is a %s parameter.
    sql = (
        f"SELECT {_columns('t', token_fields)}, {_columns('s', step_fields)}, {_columns('u', user_fields)} "  # noqa: S608
        f"FROM {quote(ApiToken._meta.db_table)} t "
        f"INNER JOIN {quote(user_model._meta.db_table)} u ON u.{user_pk} = t.{quote('user_id')} "
        f"LEFT OUTER JOIN {quote(StepRun._meta.db_table)} s ON s.{quote('id')} = t.{quote('step_run_id')} "
        f"WHERE t.{quote('digest')} = %s AND t.{quote('revoked_at')} IS NULL"
    )
    converters = hot_sql.converters_for([*token_fields, *step_fields, *user_fields])
    return sql, token_fields, step_fields, user_fields, converters


def active_token(digest: str) -> ApiToken | None:
    """The unrevoked token with this digest, its user and (for a run token) its step
    run's status, attempt and run, in one statement; other columns are deferred, as
    `.only()` would leave them."""
    sql, token_fields, step_fields, user_fields, converters = _token_query(connection.vendor)
    # Prepared on PostgreSQL (`hot_sql`): every request asks it, and planning its joins
    # cost the database more than running them. A plan is kept, never an answer:
    # a revoked token is refused at its next request.
    with hot_sql.hot_cursor() as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    values = hot_sql.convert(row, converters)
    token_values = values[: len(token_fields)]
    step_values = values[len(token_fields) : len(token_fields) + len(step_fields)]
    user_values = values[len(token_fields) + len(step_fields) :]
    db = connection.alias
    token = ApiToken.from_db(db, [field.attname for field in token_fields], token_values)
    user = get_user_model().from_db(db, [field.attname for field in user_fields], user_values)
    token._state.fields_cache["user"] = user
    if token.step_run_id is not None:
        step_run = StepRun.from_db(db, [field.attname for field in step_fields], step_values)
        token._state.fields_cache["step_run"] = step_run
    return token


# --- get_artifact_version(name, version) ---------------------------------------------
# The serializer's fields that are the version's own columns (the artifact's name is
# known, the metadata is read apart).
_VERSION_FIELDS = tuple(name for name in VERSION_FIELDS if name not in ("artifact", "run_metadata"))
_METADATA_FIELDS = ("key", "value", "type")


class _MetadataRow(NamedTuple):
    key: str
    value: Any
    type: str


@cache
def _version_queries(vendor: str, with_version: bool) -> tuple[str, str, hot_sql.Converters]:
    # Two plain statements rather than one with joins: PostgreSQL plans a join of three
    # tables in longer than it takes to run both of these.
    quote = connection.ops.quote_name
    # In the order the tuples name them: rows are read by position below.
    version_fields = [ArtifactVersion._meta.get_field(name) for name in _VERSION_FIELDS]
    metadata_fields = [RunMetadata._meta.get_field(name) for name in _METADATA_FIELDS]
    # S608 (below): only quoted table and column names from the models go into the
    # text; every value is a %s parameter.
    artifact_id = f"(SELECT a.{quote('id')} FROM {quote(Artifact._meta.db_table)} a WHERE a.{quote('name')} = %s)"  # noqa: S608
    # The newest ready version (with that name) by id, as the ORM lookup orders them.
    version_sql = (
        f"SELECT {_columns('v', version_fields)} FROM {quote(ArtifactVersion._meta.db_table)} v "  # noqa: S608
        f"WHERE v.{quote('artifact_id')} = {artifact_id} AND v.{quote('status')} = %s"
        + (f" AND v.{quote('version')} = %s" if with_version else "")
        + f" ORDER BY v.{quote('id')} DESC LIMIT 1"
    )
    metadata_sql = (
        f"SELECT {_columns('m', metadata_fields)} FROM {quote(RunMetadata._meta.db_table)} m "  # noqa: S608
        f"WHERE m.{quote('artifact_version_id')} = %s ORDER BY m.{quote('id')}"
    )
    # Converted by hand below: only created_at needs it, and JSON comes back as text.
    return version_sql, metadata_sql, hot_sql.converters_for([ArtifactVersion._meta.get_field("created_at")])


def artifact_version_representation(artifact: str, version: str | None, *, user: access.User) -> dict[str, Any] | None:
    """What `ArtifactVersionSerializer` gives for the newest ready version of
    `artifact` (with that version name when given) if `user` may see it, or None.

    The access decision is `access.may_read`, which asks no query: every reader
    sees every ready version (`access.artifact_versions_visible`), the statements
    below keep to ready ones. Should visibility narrow, these statements must too.
    """
    if not access.may_read(user):
        return None
    version_sql, metadata_sql, created_at_converters = _version_queries(connection.vendor, version is not None)
    params = [artifact, ArtifactVersionStatus.READY] + ([version] if version is not None else [])
    with connection.cursor() as cursor:
        cursor.execute(version_sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        found = dict(zip(_VERSION_FIELDS, row, strict=True))
        cursor.execute(metadata_sql, [found["id"]])
        metadata = cursor.fetchall()
    return _version_representation(found, artifact, metadata, created_at_converters)


# --- get_artifact_version(id): GET artifact-versions/<id>/ ----------------------------
@cache
def _version_by_id_query(vendor: str) -> str:
    quote = connection.ops.quote_name
    version_fields = [ArtifactVersion._meta.get_field(name) for name in _VERSION_FIELDS]
    # S608: only quoted table and column names from the models go into the text;
    # every value is a %s parameter.
    return (
        f"SELECT {_columns('v', version_fields)}, a.{quote('name')} "  # noqa: S608
        f"FROM {quote(ArtifactVersion._meta.db_table)} v "
        f"INNER JOIN {quote(Artifact._meta.db_table)} a ON a.{quote('id')} = v.{quote('artifact_id')} "
        f"WHERE v.{quote('id')} = %s AND v.{quote('status')} = %s"
    )


def artifact_version_by_id_representation(version_id: int, *, user: access.User) -> dict[str, Any] | None:
    """What `ArtifactVersionSerializer` gives for the ready version with this id if
    `user` may see it, or None. Access as `artifact_version_representation` decides it."""
    if not access.may_read(user):
        return None
    _, metadata_sql, created_at_converters = _version_queries(connection.vendor, False)
    with connection.cursor() as cursor:
        cursor.execute(_version_by_id_query(connection.vendor), [version_id, ArtifactVersionStatus.READY])
        row = cursor.fetchone()
        if row is None:
            return None
        found = dict(zip(_VERSION_FIELDS, row[:-1], strict=True))
        cursor.execute(metadata_sql, [version_id])
        metadata = cursor.fetchall()
    return _version_representation(found, row[-1], metadata, created_at_converters)


def _version_representation(
    found: dict[str, Any], artifact: str, metadata: Sequence[Row], created_at_converters: hot_sql.Converters
) -> dict[str, Any]:
    (created_at,) = hot_sql.convert([found["created_at"]], created_at_converters)
    values = {
        **found,
        "artifact": artifact,
        "tags": _json(found["tags"]),
        "file_identities": _json(found["file_identities"]),
        "run_metadata": latest_metadata(_MetadataRow(key, _json(value), kind) for key, value, kind in metadata),
        "created_at": iso_datetime(created_at),
    }
    return {name: values[name] for name in VERSION_FIELDS}


def _json(value: Any) -> Any:
    # Django has both backends hand JSON columns back as text (JSONField parses it).
    return json.loads(value) if isinstance(value, str) else value
