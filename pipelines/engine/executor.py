"""Running one step run on a worker: claim, import, load inputs, run, save, record."""

from __future__ import annotations

import logging
import os
import socket
import traceback
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from pipelines.engine.log_capture import capture_step_output
from pipelines.models import StepRun, StepRunOutput
from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.sdk.artifact_store import LocalArtifactStore
from pipelines.sdk.context import (
    InputArtifact,
    OutputTarget,
    PipelineInfo,
    PipelineRunInfo,
    StepContext,
    StepRunInfo,
    step_context,
)
from pipelines.sdk.materializers import materializer_registry
from pipelines.sdk.source import add_import_roots, load_source, source_of
from pipelines.sdk.step import Step
from pipelines.services.steps import SavedOutput, StepTimings, step_run_claim, step_run_complete, step_run_fail

logger = logging.getLogger(__name__)
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


class StepExecutionError(Exception):
    """The step could not run or its result could not be saved; the message says why."""


@dataclass
class _Attempt:
    step_run: StepRun
    attempt: int
    inputs: dict[str, int]
    user_code_started_at: Any = None
    user_code_finished_at: Any = None

    @property
    def timings(self) -> StepTimings:
        return StepTimings(self.user_code_started_at, self.user_code_finished_at)


def artifact_store() -> LocalArtifactStore:
    return LocalArtifactStore(settings.PIPELINES["ARTIFACT_STORE_ROOT"])


def _import_step(step_run: StepRun) -> Step:
    roots = [r for r in settings.PIPELINES["SOURCE_ROOTS"].split(os.pathsep) if r]
    if settings.PIPELINES["TRUST_RUN_SOURCE_ROOT"]:
        roots.append(step_run.pipeline_run.config.get("source_root", ""))
    add_import_roots(roots)
    try:
        obj = load_source(step_run.source)
    except Exception as exc:
        raise StepExecutionError(
            f"The worker {WORKER_NAME} could not import step {step_run.name!r} from "
            f"{step_run.source!r}: {type(exc).__name__}: {exc}\n"
            "Workers import steps by module path: keep pipeline code in a module under the "
            "folder the worker runs in, or add its folder to PIPELINES_SOURCE_ROOT on the worker."
        ) from exc
    if not isinstance(obj, Step):
        raise StepExecutionError(f"{step_run.source!r} is not a function decorated with @step.")
    return obj


def _load_inputs(step_run: StepRun) -> tuple[dict[str, Any], dict[str, InputArtifact], dict[str, int]]:
    refs = step_run.spec.get("inputs", {})
    if not refs:
        return {}, {}, {}
    links = {
        (link.step_run.name, link.name): link.artifact_version
        for link in StepRunOutput.objects.filter(
            step_run__pipeline_run_id=step_run.pipeline_run_id,
            step_run__name__in={ref["step"] for ref in refs.values()},
        ).select_related("step_run", "artifact_version__artifact")
    }
    values: dict[str, Any] = {}
    described: dict[str, InputArtifact] = {}
    ids: dict[str, int] = {}
    for name, ref in refs.items():
        version = links.get((ref["step"], ref["output"]))
        if version is None:
            raise StepExecutionError(
                f"Input {name!r} needs output {ref['output']!r} of step {ref['step']!r}, which has not been recorded."
            )
        try:
            values[name] = load_artifact_version(
                uri=version.uri,
                materializer=version.materializer,
                data_type=version.data_type,
                checksum=version.checksum,
            )
        except Exception as exc:
            raise StepExecutionError(
                f"Could not load input {name!r} ({version.artifact.name} version {version.version}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        ids[name] = version.id
        described[name] = InputArtifact(
            name=name,
            artifact_name=version.artifact.name,
            version=version.version,
            uri=version.uri,
            materializer=version.materializer,
            producer_step=ref["step"],
        )
    return values, described, ids


def _output_targets(step_run: StepRun, attempt: int) -> dict[str, OutputTarget]:
    store = artifact_store()
    targets = {}
    for index, output in enumerate(step_run.spec.get("outputs", [])):
        materializer = load_source(output["materializer"]) if output.get("materializer") else None
        uri = store.uri_for(
            run_id=step_run.pipeline_run_id, step_run_id=step_run.id, attempt=attempt, output_index=index
        )
        targets[output["name"]] = OutputTarget(name=output["name"], uri=uri, materializer=materializer)
    return targets


def _artifact_name(step_run: StepRun, output_name: str, declared: dict[str, Any]) -> str:
    # As in ZenML: a named output (Annotated) is the artifact's name; an unnamed one
    # gets a name unique to the pipeline and step.
    if output_name == "output" or output_name.startswith("output_"):
        return f"{step_run.pipeline_run.pipeline.name}::{step_run.name}::{output_name}"
    return output_name


def _split_return_value(step_run: StepRun, value: Any, count: int) -> list[Any]:
    if count == 0:
        return []
    if count == 1:
        return [value]
    if not isinstance(value, tuple | list) or len(value) != count:
        raise StepExecutionError(
            f"Step {step_run.name!r} declares {count} outputs but returned "
            f"{type(value).__name__}; return a tuple of {count} values."
        )
    return list(value)


def _save_outputs(step_run: StepRun, targets: dict[str, OutputTarget], value: Any) -> list[SavedOutput]:
    declared = step_run.spec.get("outputs", [])
    values = _split_return_value(step_run, value, len(declared))
    store = artifact_store()
    saved = []
    for output, item in zip(declared, values, strict=True):
        target = targets[output["name"]]
        materializer = target.materializer or materializer_registry.materializer_for_value(item)
        try:
            store.ensure_dir(target.uri)
            materializer(target.uri).save(item)
            checksum, size = store.checksum(target.uri)
        except Exception as exc:
            raise StepExecutionError(
                f"Could not save output {output['name']!r} of step {step_run.name!r} "
                f"(a {type(item).__name__}) with {materializer.__name__}: {type(exc).__name__}: "
                f"{exc}. Give the output a materializer that can save it "
                "(@step(output_materializers=...))."
            ) from exc
        saved.append(
            SavedOutput(
                name=output["name"],
                artifact_name=_artifact_name(step_run, output["name"], output),
                uri=target.uri,
                materializer=source_of(materializer),
                data_type=f"{type(item).__module__}.{type(item).__qualname__}",
                checksum=checksum,
                size=size,
            )
        )
    return saved


def _context(
    step_run: StepRun, attempt: int, inputs: dict[str, InputArtifact], targets: dict[str, OutputTarget]
) -> StepContext:
    run = step_run.pipeline_run
    return StepContext(
        pipeline=PipelineInfo(id=run.pipeline.id, name=run.pipeline.name),
        pipeline_run=PipelineRunInfo(id=run.id, name=run.name, status="running", config=run.config),
        step_run=StepRunInfo(id=step_run.id, name=step_run.name, attempt=attempt, cache_key=step_run.cache_key),
        inputs=inputs,
        outputs=targets,
    )


def _run_user_code(state: _Attempt, step: Step, values: dict[str, Any], context: StepContext) -> Any:
    step_run = state.step_run
    with step_context(context):
        state.user_code_started_at = timezone.now()
        try:
            return step.entrypoint(**values, **step_run.parameters)
        finally:
            state.user_code_finished_at = timezone.now()


def step_run_execute(*, step_run_id: int) -> None:
    """Run one step run to its end. Safe to call for a step another delivery owns."""
    attempt = step_run_claim(step_run_id=step_run_id, worker=WORKER_NAME)
    if attempt is None:
        logger.info("Step run %s is not queued any more; this delivery has nothing to do.", step_run_id)
        return
    step_run = StepRun.objects.select_related("pipeline_run__pipeline").get(id=step_run_id)
    state = _Attempt(step_run=step_run, attempt=attempt, inputs={})
    targets: dict[str, OutputTarget] = {}
    with capture_step_output() as log:
        try:
            step = _import_step(step_run)
            values, described_inputs, state.inputs = _load_inputs(step_run)
            targets = _output_targets(step_run, attempt)
            context = _context(step_run, attempt, described_inputs, targets)
            result = _run_user_code(state, step, values, context)
            outputs = _save_outputs(step_run, targets, result)
        except Exception as exc:
            error = "".join(traceback.format_exception(exc))
            logger.warning("Step %s of run %s failed: %s", step_run.name, step_run.pipeline_run.name, exc)
            _remove_files(targets)
            step_run_fail(
                step_run_id=step_run_id,
                attempt=attempt,
                error=error,
                inputs=state.inputs,
                timings=state.timings,
                logs=log.getvalue(),
            )
            return
    if not step_run_complete(
        step_run_id=step_run_id,
        attempt=attempt,
        inputs=state.inputs,
        outputs=outputs,
        timings=state.timings,
        logs=log.getvalue(),
    ):
        # A newer attempt owns the step; what this one wrote must not linger.
        _remove_files(targets)


def _remove_files(targets: dict[str, OutputTarget]) -> None:
    store = artifact_store()
    for target in targets.values():
        store.remove(target.uri)
