"""Recording the compiled shapes of a pipeline, so runs of it can start without its code.

Every run's spec is recorded (`pipeline_run_create` calls this), deduplicated by its
hash without parameter values and run options: two runs of the same code with other
parameters, tags, `extra`, settings, run name or cache setting share one version; a
changed step or DAG makes a new one. The version's stored spec keeps the run options
of the latest run recorded with it, which a run started without the code reuses.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.db.models.fields.json import KeyTransform

from pipelines.models import DagKind, Pipeline, PipelineVersion
from pipelines.sdk.spec import RUN_OPTION_KEYS, PipelineSpec, spec_shape_hash


def pipeline_version_find(*, pipeline_name: str, spec: PipelineSpec) -> PipelineVersion | None:
    """The recorded version of the pipeline named `pipeline_name` with this spec's
    shape, its pipeline loaded and its run options brought up to `spec`'s; None if
    there is none yet (then `pipeline_version_record` makes it). One statement: the
    common case of a submission, a pipeline run again from unchanged code."""
    existing = _versions_with_run_options().filter(pipeline__name=pipeline_name, spec_hash=spec_shape_hash(spec))
    found = existing.select_related("pipeline").first()
    return None if found is None else _with_latest_run_options(found, spec)


def pipeline_version_record(
    *, pipeline: Pipeline, spec: PipelineSpec, user: AbstractBaseUser | None
) -> PipelineVersion:
    """The version of `pipeline` with this spec's shape, made (with the next number) if new."""
    spec_hash = spec_shape_hash(spec)
    for _ in range(5):
        existing = _versions_with_run_options().filter(pipeline=pipeline, spec_hash=spec_hash).first()
        if existing is not None:
            return _with_latest_run_options(existing, spec)
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


def _versions_with_run_options() -> QuerySet[PipelineVersion]:
    """Versions read with their stored run options (`_option_alias`) but not their
    whole spec (256 KiB for 1,000 steps: every submission parsed what it already had).
    At most one row matches a pipeline and hash (unique), so no ordering: the default
    one joined the pipeline table."""
    return (
        PipelineVersion.objects.defer("spec")
        .annotate(**{_option_alias(key): KeyTransform(key, "spec") for key in RUN_OPTION_KEYS})
        .order_by("pk")
    )


def _option_alias(key: str) -> str:
    return f"_stored_{key}"


def _with_latest_run_options(version: PipelineVersion, spec: PipelineSpec) -> PipelineVersion:
    """`version` (read with its stored run options, `_option_alias`), its stored run
    options replaced by `spec`'s where they differ. A validated spec holds no null
    option, so a null read means the option is absent. (SQLite may read a string
    option that looks like a number as that number: an unneeded save at worst.)"""
    latest = {key: spec[key] for key in RUN_OPTION_KEYS if key in spec}  # type: ignore[literal-required]
    stored = {key: getattr(version, _option_alias(key)) for key in RUN_OPTION_KEYS}
    stored = {key: value for key, value in stored.items() if value is not None}
    if latest != stored:
        version.spec = {**{k: v for k, v in version.spec.items() if k not in RUN_OPTION_KEYS}, **latest}
        version.save(update_fields=["spec"])
    return version
