"""Recording the compiled shapes of a pipeline, so runs of it can start without its code.

Every run's spec is recorded (`pipeline_run_create` calls this), deduplicated by its
hash without parameter values and run options: two runs of the same code with other
parameters, tags, `extra`, settings, run name or cache setting share one version; a
changed step or DAG makes a new one. The version's stored spec keeps the run options
of the latest run recorded with it, which a run started without the code reuses.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Max

from pipelines.models import DagKind, Pipeline, PipelineVersion
from pipelines.sdk.spec import RUN_OPTION_KEYS, PipelineSpec, spec_shape_hash
from pipelines.services import hot_sql


def pipeline_version_find(*, pipeline_name: str, spec: PipelineSpec) -> PipelineVersion | None:
    """The recorded version of the pipeline named `pipeline_name` with this spec's
    shape, its pipeline loaded and its run options brought up to `spec`'s; None if
    there is none yet (then `pipeline_version_record` makes it). One statement: the
    common case of a submission, a pipeline run again from unchanged code."""
    found = _version_with_run_options(pipeline_name, spec_shape_hash(spec))
    return None if found is None else _with_latest_run_options(*found, spec)


def pipeline_version_record(
    *, pipeline: Pipeline, spec: PipelineSpec, user: AbstractBaseUser | None
) -> PipelineVersion:
    """The version of `pipeline` with this spec's shape, made (with the next number) if new."""
    spec_hash = spec_shape_hash(spec)
    for _ in range(5):
        existing = _version_with_run_options(pipeline.name, spec_hash)
        if existing is not None:
            return _with_latest_run_options(*existing, spec)
        number = (PipelineVersion.objects.filter(pipeline=pipeline).aggregate(n=Max("number"))["n"] or 0) + 1
        try:
            # Two submissions at once may both pick this number or this hash: the
            # constraints refuse the second, which reads again.
            with transaction.atomic():
                return PipelineVersion.objects.create(
                    pipeline=pipeline,
                    number=number,
                    spec_hash=spec_hash,
                    spec=spec,
                    parameter_schema=spec.get("parameter_schema") or [],
                    # Specs from before parameters were recorded: re-run as they are only.
                    dag=spec.get("dag") or DagKind.STATIC,
                    pipeline_source=spec.get("pipeline_source", ""),
                    source_root=spec.get("source_root", ""),
                    created_by=user if user is not None and user.is_authenticated else None,
                )
        except IntegrityError:
            continue
    raise IntegrityError(f"Could not record a version of pipeline {pipeline.name!r}; try again.")


# The version's columns but its spec (256 KiB for 1,000 steps: every submission
# parsed what it already had), and its pipeline's, in the models' field order
# (`Model.from_db` takes a partial row by position).
_VERSION_FIELDS = tuple(field for field in PipelineVersion._meta.concrete_fields if field.name != "spec")
_PIPELINE_FIELDS = tuple(Pipeline._meta.concrete_fields)


@cache
def _version_statement(vendor: str) -> str:
    """The version of a pipeline (by name) with a spec hash, its pipeline's columns
    and its stored run options as one JSON array (`RUN_OPTION_KEYS`' order, null for
    an absent one). Plain SQL: building it as an ORM query (an annotation per option
    and a join) cost more CPU than the database took to answer it. At most one row
    matches (a pipeline's name and a version's hash are unique)."""
    quote = connection.ops.quote_name
    spec = f"v.{quote('spec')}"
    assert all(key.isidentifier() for key in RUN_OPTION_KEYS)  # they go into the text as they are
    if vendor == "postgresql":
        values = ", ".join(f"{spec} -> '{key}'" for key in RUN_OPTION_KEYS)
        options = f"jsonb_build_array({values})"
    else:  # SQLite: with several paths, json_extract gives a JSON array (true and false as such)
        paths = ", ".join(f"'$.{key}'" for key in RUN_OPTION_KEYS)
        options = f"json_extract({spec}, {paths})"
    columns = [f"v.{quote(field.column)}" for field in _VERSION_FIELDS]
    columns += [f"p.{quote(field.column)}" for field in _PIPELINE_FIELDS]
    # S608: only quoted table and column names from the models and the option keys
    # (identifiers, checked above) go into the text; the values are %s parameters.
    return (
        f"SELECT {', '.join(columns)}, {options} "  # noqa: S608
        f"FROM {quote(PipelineVersion._meta.db_table)} v "
        f"INNER JOIN {quote(Pipeline._meta.db_table)} p ON p.{quote('id')} = v.{quote('pipeline_id')} "
        f"WHERE p.{quote('name')} = %s AND v.{quote('spec_hash')} = %s"
    )


def _version_with_run_options(pipeline_name: str, spec_hash: str) -> tuple[PipelineVersion, dict[str, Any]] | None:
    """The version (its spec deferred, its pipeline loaded) and its stored run
    options (those not null), or None."""
    rows = hot_sql.execute(_version_statement(connection.vendor), [pipeline_name, spec_hash])
    if not rows:
        return None
    row = rows[0]
    version = hot_sql.instance_from_row(
        PipelineVersion, [f.attname for f in _VERSION_FIELDS], row[: len(_VERSION_FIELDS)]
    )
    pipeline = hot_sql.instance_from_row(
        Pipeline, [f.attname for f in _PIPELINE_FIELDS], row[len(_VERSION_FIELDS) : -1]
    )
    PipelineVersion.pipeline.field.set_cached_value(version, pipeline)
    options = row[-1]
    # Both backends may hand JSON back as text (Django has psycopg do so for jsonb).
    values = json.loads(options) if isinstance(options, str | bytes) else options
    stored = {key: value for key, value in zip(RUN_OPTION_KEYS, values, strict=True) if value is not None}
    return version, stored


def _with_latest_run_options(version: PipelineVersion, stored: dict[str, Any], spec: PipelineSpec) -> PipelineVersion:
    """`version`, its stored run options (`stored`: those not null; a validated spec
    holds no null option, so a null means the option is absent) replaced by
    `spec`'s where they differ."""
    latest = {key: spec[key] for key in RUN_OPTION_KEYS if key in spec}  # type: ignore[literal-required]
    if latest != stored:
        version.spec = {**{k: v for k, v in version.spec.items() if k not in RUN_OPTION_KEYS}, **latest}
        version.save(update_fields=["spec"])
    return version
