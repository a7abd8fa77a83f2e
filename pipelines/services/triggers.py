"""Starting a run of a stored pipeline version with new parameters, without its code.

`start_run` is the one entry: the API (`POST /api/v1/pipelines/{id}/runs/`), the
dashboard's Run and Re-run forms, `Client().trigger_pipeline` and schedules call it.

- A **static** DAG (its steps do not depend on the parameters' values) reuses the
  stored spec: the new values replace the step arguments the pipeline function
  passed them to, and the run is created at once, as `pipeline_run_create` does.
- A **dynamic** DAG (a loop over `n`, a condition) is compiled again by a worker
  that has the code: `start_run` stores a `RunRequest` and sends the compile task
  (ids only); the worker imports the pipeline function (`source_root` +
  `pipeline_source`, as it imports steps), compiles it with the new values and
  creates the run. The request shows the run, or why compiling failed.
"""

from __future__ import annotations

import copy
import logging
import os
import traceback
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pipelines import access
from pipelines.models import (
    DagKind,
    PipelineRun,
    PipelineVersion,
    RunRequest,
    RunRequestStatus,
    RunTrigger,
)
from pipelines.sdk.spec import (
    ParameterError,
    PipelineSpec,
    SpecError,
    bind_parameters,
    reapply_configuration,
    resolve_parameters,
    validate_spec,
)
from pipelines.services.runs import pipeline_run_create
from pipelines.services.transitions import StateMachine

logger = logging.getLogger(__name__)

# The name the compile task is registered under (`pipelines.tasks`); sent by name.
COMPILE_TASK = "pipelines.compile_run_request"
RUN_NAME_MAX_LENGTH = 200
# Compiling takes seconds; a request still compiling after this lost its worker.
COMPILE_STALE_SECONDS = 600

Q = RunRequestStatus
# A request is claimed by one worker (pending -> compiling) and ends started or
# failed; a broker that refuses the task fails it while still pending.
RUN_REQUESTS = StateMachine(
    "a run request",
    RunRequest,
    "status",
    {
        Q.PENDING: frozenset({Q.COMPILING, Q.FAILED}),
        # compiling -> compiling: a redelivered task takes over from a worker lost
        # while compiling (after COMPILE_STALE_SECONDS).
        Q.COMPILING: frozenset({Q.COMPILING, Q.STARTED, Q.FAILED}),
        Q.STARTED: frozenset(),
        Q.FAILED: frozenset(),
    },
)


def _with_run_options(spec: PipelineSpec, *, enable_cache: bool | None, run_name: str | None) -> PipelineSpec:
    """A trigger's "use cache" applies to every step (as unticking it means); its run
    name replaces the template (a taken name gets a numeric suffix)."""
    spec = copy.deepcopy(spec)
    if enable_cache is not None:
        spec["enable_cache"] = enable_cache
        for step in spec["steps"]:
            step["enable_cache"] = enable_cache
    if run_name:
        spec["run_name_template"] = run_name
    return spec


def _check_run_options(spec: PipelineSpec, *, enable_cache: Any, run_name: Any) -> None:
    if enable_cache is not None and not isinstance(enable_cache, bool):
        raise ValidationError({"enable_cache": "enable_cache must be true, false or null."})
    if run_name is not None and not isinstance(run_name, str):
        raise ValidationError({"run_name": "run_name must be a string."})
    if run_name:
        if len(run_name) > RUN_NAME_MAX_LENGTH:
            raise ValidationError({"run_name": f"A run name has at most {RUN_NAME_MAX_LENGTH} characters."})
        try:
            validate_spec({**spec, "run_name_template": run_name})
        except SpecError as exc:
            raise ValidationError({"run_name": str(exc)}) from None


def resolve_trigger_parameters(*, pipeline_version: PipelineVersion, parameters: Any) -> dict[str, Any]:
    """The parameters of a new run of this version (defaults filled in), or a
    ValidationError naming the parameter that is unknown, missing or of the wrong type."""
    try:
        return resolve_parameters(pipeline_version.spec, parameters)
    except ParameterError as exc:
        raise ValidationError({exc.field: str(exc)}) from None


def start_run(
    *,
    pipeline_version: PipelineVersion,
    parameters: Any,
    enable_cache: bool | None = None,
    run_name: str | None = None,
    user: AbstractBaseUser | None,
    trigger: str = RunTrigger.API,
    rerun_of: PipelineRun | None = None,
    schedule: Any = None,
) -> PipelineRun | RunRequest:
    """Start a run of `pipeline_version` with `parameters` (validated against its
    schema; missing ones take their defaults).

    Returns the run (static DAG) or the `RunRequest` a worker compiles (dynamic DAG;
    its `run` is set once the worker created it). Raises Django's ValidationError
    with a dict naming the bad field (a parameter's name, `parameters`,
    `enable_cache` or `run_name`); nothing is stored then. The caller has checked
    the user may (`pipelines.access`).
    """
    resolved = resolve_trigger_parameters(pipeline_version=pipeline_version, parameters=parameters)
    _check_run_options(pipeline_version.spec, enable_cache=enable_cache, run_name=run_name)
    schedule_id = getattr(schedule, "id", schedule)
    if pipeline_version.dag == DagKind.STATIC:
        spec = bind_parameters(pipeline_version.spec, resolved)
        if rerun_of is not None and rerun_of.pipeline_version_id == pipeline_version.id:
            spec = reapply_configuration(spec, rerun_of.spec)
        spec = _with_run_options(spec, enable_cache=enable_cache, run_name=run_name)
        try:
            return pipeline_run_create(
                spec=spec, user=user, trigger=trigger, rerun_of=rerun_of, schedule_id=schedule_id
            )
        except SpecError as exc:  # e.g. a model version the parameters do not change
            raise ValidationError({"parameters": str(exc)}) from None
    with transaction.atomic():
        request = RunRequest.objects.create(
            pipeline_version=pipeline_version,
            parameters=resolved,
            enable_cache=enable_cache,
            run_name=run_name or "",
            trigger=trigger,
            rerun_of=rerun_of,
            schedule_id=schedule_id,
            requested_by=user if user is not None and user.is_authenticated else None,
        )
        queue = pipeline_version.spec.get("queue") or settings.PIPELINES["QUEUE"]
        transaction.on_commit(lambda: _send_compile(request.id, queue=queue))
    return request


def _send_compile(request_id: int, *, queue: str) -> None:
    try:
        current_app.send_task(COMPILE_TASK, args=[request_id], queue=queue)
    except Exception as exc:
        # The request is committed: fail it with the reason rather than leave it pending.
        logger.exception("Could not send run request %s to the broker", request_id)
        RUN_REQUESTS.move(
            [request_id],
            source=[Q.PENDING],
            target=Q.FAILED,
            error=f"The broker refused the compile task ({type(exc).__name__}); start the run again.",
            finished_at=timezone.now(),
        )


def _import_pipeline(version: PipelineVersion) -> Any:
    from pipelines.sdk.pipeline import Pipeline
    from pipelines.sdk.source import add_import_roots, load_source

    roots = [r for r in settings.PIPELINES["SOURCE_ROOTS"].split(os.pathsep) if r]
    if settings.PIPELINES["TRUST_RUN_SOURCE_ROOT"]:
        roots.append(version.source_root)
    add_import_roots(roots)
    if not version.pipeline_source:
        raise SpecError(f"Version {version.number} of {version.pipeline.name!r} does not say where its code is.")
    obj = load_source(version.pipeline_source)
    if not isinstance(obj, Pipeline):
        raise SpecError(f"{version.pipeline_source!r} is not a function decorated with @pipeline.")
    return obj


def _recorded_configuration(version: PipelineVersion, rerun_of: PipelineRun | None) -> PipelineSpec:
    """The spec whose configuration a run started without the code takes: the re-run
    run's own (its tags, extra, settings, step options), else the version's (those of
    its latest run)."""
    if rerun_of is not None and rerun_of.pipeline_version_id == version.id:
        return rerun_of.spec
    return version.spec


def run_request_compile(*, request_id: int) -> RunRequest | None:
    """On a worker: compile a dynamic pipeline with the request's parameters and
    start its run. Safe to run twice: only the call that claims the pending request
    does anything (or, once it has been compiling for COMPILE_STALE_SECONDS, a
    redelivery of the task: its first worker was lost)."""
    claimed = RUN_REQUESTS.move([request_id], source=[Q.PENDING], target=Q.COMPILING) or RUN_REQUESTS.move(
        [request_id],
        source=[Q.COMPILING],
        target=Q.COMPILING,
        extra_filter={"created_at__lt": timezone.now() - timedelta(seconds=COMPILE_STALE_SECONDS)},
    )
    if not claimed:
        return None
    request = RunRequest.objects.select_related("pipeline_version__pipeline", "requested_by", "rerun_of").get(
        id=request_id
    )
    version = request.pipeline_version
    try:
        if not access.may_start_runs(request.requested_by):
            # Deactivated or deleted since asking: the run would act as that account.
            raise SpecError("the user who asked for this run can no longer start runs (deactivated or deleted).")
        pipeline = _import_pipeline(version)
        spec = pipeline.compile(**request.parameters)
        if spec["pipeline"] != version.pipeline.name:
            raise SpecError(
                f"{version.pipeline_source!r} now compiles pipeline {spec['pipeline']!r}, "
                f"not {version.pipeline.name!r}."
            )
        # Compiled from the decorated function: the configuration the version was
        # recorded with (with_options, a YAML file) is put back, then the request's.
        spec = reapply_configuration(spec, _recorded_configuration(version, request.rerun_of))
        spec = _with_run_options(spec, enable_cache=request.enable_cache, run_name=request.run_name or None)
        # Compiled here, the spec names this worker's folder; the code is the version's.
        if version.source_root:
            spec["source_root"] = version.source_root
        # The run and the request's end together: a worker lost in between leaves neither.
        with transaction.atomic():
            run = pipeline_run_create(
                spec=spec,
                user=request.requested_by,
                trigger=request.trigger,
                rerun_of=request.rerun_of,
                schedule_id=request.schedule_id,
            )
            RUN_REQUESTS.move([request_id], source=[Q.COMPILING], target=Q.STARTED, run=run, finished_at=timezone.now())
    except Exception as exc:
        logger.warning("Run request %s could not be compiled", request_id, exc_info=True)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        RUN_REQUESTS.move(
            [request_id],
            source=[Q.COMPILING],
            target=Q.FAILED,
            error=f"The worker could not compile {version.pipeline_source or version.pipeline.name}: {detail}",
            finished_at=timezone.now(),
        )
        return RunRequest.objects.get(id=request_id)
    return RunRequest.objects.get(id=request_id)
