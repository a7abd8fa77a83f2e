"""Running one step run on a worker: claim, import, load inputs, run, save, record."""

from __future__ import annotations

import inspect
import logging
import os
import signal
import socket
import sys
import traceback
from dataclasses import dataclass, field, replace
from typing import Any

from celery.exceptions import WorkerShutdown, WorkerTerminate
from django.conf import settings
from django.db import connection
from django.utils import timezone

from pipelines.engine.cache import cache_key
from pipelines.engine.heartbeat import heartbeating
from pipelines.engine.log_capture import CapturedLog, capture_step_output
from pipelines.engine.time_limit import StepTimeoutError, in_pool_process, time_limit
from pipelines.models import (
    Artifact,
    ArtifactVersion,
    PipelineRun,
    StepRun,
    StepStatus,
)
from pipelines.sdk.artifact_loading import load_artifact_version
from pipelines.sdk.artifact_saving import save_artifact_value, save_small_artifact_value
from pipelines.sdk.context import (
    InputArtifact,
    OutputTarget,
    PipelineInfo,
    PipelineRunInfo,
    StepContext,
    StepRunInfo,
    step_context,
)
from pipelines.sdk.exceptions import NonRetryableError, StepContextError
from pipelines.sdk.hooks import failure_is_final, run_hook
from pipelines.sdk.masking import SecretMasker
from pipelines.sdk.materializers import materializer_registry
from pipelines.sdk.metadata import encode
from pipelines.sdk.source import add_import_roots, load_source, source_of
from pipelines.sdk.step import Step
from pipelines.services.artifacts import (
    AttemptSuperseded,
    PendingOutput,
    SavedOutput,
    artifact_versions_reserve,
    step_output_versions,
)
from pipelines.services.external_inputs import external_input_ids, external_input_versions
from pipelines.services.steps import (
    NextStep,
    StepTimings,
    step_run_claim,
    step_run_claim_held_back,
    step_run_complete,
    step_run_fail,
    step_run_for_attempt,
    step_run_release_held_back,
    step_run_with_run,
)
from pipelines.services.tokens import run_token_create, run_tokens_revoke
from pipelines.storage import artifact_store, store_for_uri

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class StepExecutionError(Exception):
    """The step could not run or its result could not be saved; the message says why."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class _Attempt:
    step_run: StepRun
    number: int
    input_versions: dict[str, ArtifactVersion] = field(default_factory=dict)
    targets: dict[str, OutputTarget] = field(default_factory=dict)
    # The outputs as pending versions to reserve before a file is written durably.
    pending: list[PendingOutput] = field(default_factory=list)
    # Their versions (by output name), once reserved (see `_reserve_outputs`).
    reserved: dict[str, int] | None = None
    # Claimed with the end of the step before, so its cache key is not written yet:
    # it is written with the attempt's end.
    cache_key_unrecorded: bool = False
    user_code_started_at: Any = None
    user_code_finished_at: Any = None
    context: StepContext | None = None
    credentials: _RunCredentials | None = None
    # The values of the secrets the step read, masked in all it leaves behind.
    masker: SecretMasker = field(default_factory=SecretMasker)
    log: CapturedLog | None = None

    @property
    def timings(self) -> StepTimings:
        return StepTimings(self.user_code_started_at, self.user_code_finished_at)

    @property
    def input_ids(self) -> dict[str, int]:
        return {name: version.id for name, version in self.input_versions.items()}


def _import_step(step_run: StepRun) -> Step:
    roots = [r for r in settings.PIPELINES["SOURCE_ROOTS"].split(os.pathsep) if r]
    if settings.PIPELINES["TRUST_RUN_SOURCE_ROOT"]:
        roots.append(step_run.pipeline_run.config.get("source_root", ""))
    add_import_roots(roots)
    try:
        obj = load_source(step_run.source)
    except Exception as exc:
        raise StepExecutionError(
            f"The worker {worker_name()} could not import step {step_run.name!r} from "
            f"{step_run.source!r}: {type(exc).__name__}: {exc}\n"
            "Workers import steps by module path: keep pipeline code in a module under the "
            "folder the worker runs in, or add its folder to PIPELINES_SOURCE_ROOT on the worker.",
            retryable=False,
        ) from exc
    if not isinstance(obj, Step):
        raise StepExecutionError(f"{step_run.source!r} is not a function decorated with @step.", retryable=False)
    return obj


# The worker's code hash of each step, per version of its module's file.
_code_hashes: dict[tuple[str, str, int, int], str] = {}


def _code_hash_here(source: str, step: Step) -> str:
    """`step.code_hash`, computed once per version of the step's module file: it
    costs ~0.4 ms (inspect.getsource tokenizes the module), a step's whole overhead
    is a few ms, and a module changes only with a deploy (then its mtime does too)."""
    file = getattr(inspect.getmodule(step.entrypoint), "__file__", None)
    try:
        stat = os.stat(file) if file else None
    except OSError:
        stat = None
    if stat is None:
        return step.code_hash
    key = (source, file, stat.st_mtime_ns, stat.st_size)
    if key not in _code_hashes:
        _code_hashes[key] = step.code_hash
    return _code_hashes[key]


def _check_code(step_run: StepRun, step: Step) -> None:
    """Refuse to run the worker's copy of a step when it is not the code the run was
    submitted with: the outputs would be recorded (and cached) under the other hash.

    With PIPELINES_ALLOW_CODE_MISMATCH (for development) it runs anyway, with a
    warning in the step's log. A spec without a hash (written by hand) is not checked.
    """
    submitted = step_run.code_hash
    if not submitted:
        return
    here = _code_hash_here(step_run.source, step)
    if here == submitted:
        return
    problem = (
        f"Step {step_run.name!r} was submitted with code hash {submitted}, but the code of "
        f"{step_run.source!r} on worker {worker_name()} has code hash {here}: the worker's copy "
        "of the step's module differs from the code the run was submitted with."
    )
    if settings.PIPELINES["ALLOW_CODE_MISMATCH"]:
        print(
            f"WARNING: {problem} Running the worker's copy, since PIPELINES_ALLOW_CODE_MISMATCH is on.",
            file=sys.stderr,
            flush=True,
        )
        return
    # Retryable: in a fleet half way through a deploy, another worker may have the code.
    raise StepExecutionError(
        f"{problem}\nDeploy the code you submitted from to every worker that consumes the queue "
        f"{step_run.queue!r} (workers re-import a changed module; restart them after installing "
        "a package), or submit the run again from the code the workers have. For development, "
        "PIPELINES_ALLOW_CODE_MISMATCH=true on the worker runs its copy anyway, with a warning."
    )


def _resolve_inputs(step_run: StepRun) -> dict[str, ArtifactVersion]:
    """The ready artifact versions this step's inputs point at."""
    refs = step_run.spec.get("inputs", {})
    external = external_input_ids(step_run.spec)
    if not refs and not external:
        return {}
    versions = external_input_versions(step_run.spec)
    for name, av in external.items():
        if name not in versions:
            raise StepExecutionError(f"Input {name!r} needs artifact version {av}, which is not ready.")
    if not refs:
        return versions
    links = step_output_versions(run_id=step_run.pipeline_run_id, step_names={ref["step"] for ref in refs.values()})
    for name, ref in refs.items():
        version = links.get((ref["step"], ref["output"]))
        if version is None:
            raise StepExecutionError(
                f"Input {name!r} needs output {ref['output']!r} of step {ref['step']!r}, which has not been recorded."
            )
        versions[name] = version
    return versions


def _load_inputs(versions: dict[str, ArtifactVersion]) -> dict[str, Any]:
    values = {}
    for name, version in versions.items():
        try:
            values[name] = load_artifact_version(
                uri=version.uri,
                materializer=version.materializer,
                data_type=version.data_type,
                checksum=version.checksum,
                # The version's own store: it may have been written before the setting changed.
                store=store_for_uri(version.uri) if not version.inline_files else None,
                inline_files=version.inline_files,
                file_identities=version.file_identities,
            )
        except Exception as exc:
            raise StepExecutionError(
                f"Could not load input {name!r} ({version.artifact.name} version {version.version}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return values


def _describe_inputs(step_run: StepRun, versions: dict[str, ArtifactVersion]) -> dict[str, InputArtifact]:
    refs = step_run.spec.get("inputs", {})
    return {
        name: InputArtifact(
            name=name,
            artifact_name=version.artifact.name,
            version=version.version or "",
            uri=version.uri,
            materializer=version.materializer,
            producer_step=refs[name]["step"] if name in refs else "",  # "": an external input
        )
        for name, version in versions.items()
    }


def _artifact_name(step_run: StepRun, output_name: str) -> str:
    # As in ZenML: a named output (Annotated) is the artifact's name; an unnamed one
    # gets a name unique to the pipeline and step.
    if output_name == "output" or output_name.startswith("output_"):
        return f"{step_run.pipeline_run.pipeline.name}::{step_run.name}::{output_name}"
    return output_name


_ARTIFACT_NAME_MAX_LENGTH = Artifact._meta.get_field("name").max_length


def _prepare_outputs(attempt: _Attempt) -> None:
    """Pick each output's folder; reserve the outputs now only if one has a fixed
    version (so a version that is taken fails the step before its code runs)."""
    step_run = attempt.step_run
    store = artifact_store()
    for index, output in enumerate(step_run.spec.get("outputs", [])):
        materializer = load_source(output["materializer"]) if output.get("materializer") else None
        uri = store.uri_for(
            run_id=step_run.pipeline_run_id, step_run_id=step_run.id, attempt=attempt.number, output_index=index
        )
        attempt.targets[output["name"]] = OutputTarget(name=output["name"], uri=uri, materializer=materializer)
        artifact_name = _artifact_name(step_run, output["name"])
        if len(artifact_name) > _ARTIFACT_NAME_MAX_LENGTH:
            # Checked here, before the step's code: a small output's artifact row is
            # written only by the step's end, where the database's refusal would
            # leave the step to the reaper as a crash.
            raise StepExecutionError(
                f"Output {output['name']!r} would be artifact {artifact_name[:40]}..., {len(artifact_name)} "
                f"characters long: artifact names have at most {_ARTIFACT_NAME_MAX_LENGTH} characters. Name the "
                'output (Annotated[..., "name"]), or give the pipeline or the step a shorter name.',
                retryable=False,
            )
        attempt.pending.append(
            PendingOutput(
                name=output["name"],
                artifact_name=artifact_name,
                uri=uri,
                version=(output.get("artifact") or {}).get("version"),
            )
        )
    if any(output.version is not None for output in attempt.pending):
        _reserve_outputs(attempt)


def _reserve_outputs(attempt: _Attempt) -> None:
    """Record the outputs as pending versions, committed durably, before the first
    of their files is written durably: if the attempt never ends, the reaper finds
    its files through them and removes them.

    Most outputs are small and never get here: they are kept in the completion's
    row, their versions created ready by its transaction (a transaction per step
    less), and the store's copy, written without an fsync, is an attempt's folder
    that its failure or the reaper's giving up on it removes (`_remove_files`,
    `step_runs_reap_crashed`)."""
    if attempt.reserved is None:
        attempt.reserved = artifact_versions_reserve(
            step_run_id=attempt.step_run.id, attempt=attempt.number, outputs=attempt.pending
        )


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


def _save_outputs(attempt: _Attempt, value: Any) -> list[SavedOutput]:
    step_run = attempt.step_run
    declared = step_run.spec.get("outputs", [])
    values = _split_return_value(step_run, value, len(declared))
    store = artifact_store()
    saved = []
    for output, item in zip(declared, values, strict=True):
        target = attempt.targets[output["name"]]
        artifact = output.get("artifact") or {}  # ArtifactConfig settings
        materializer = target.materializer or materializer_registry.materializer_for_value(item)
        identities: dict[str, Any] = {}
        try:
            inline = None
            small = save_small_artifact_value(
                store=store,
                uri=target.uri,
                materializer=materializer,
                value=item,
                before_durable_write=lambda: _reserve_outputs(attempt),
            )
            if small is not None:
                saver, checksum, size, inline = small
            else:
                _reserve_outputs(attempt)
                saver, checksum, size = save_artifact_value(
                    store=store, uri=target.uri, materializer=materializer, value=item, file_identities=identities
                )
            extracted = _extracted_metadata(saver, item)
        except AttemptSuperseded:
            raise  # found by the reservation: not the output's problem (see `_run_and_record`)
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
                artifact_version_id=None,  # set below if reserved
                artifact_name=_artifact_name(step_run, output["name"]),
                uri=target.uri,
                inline_files=inline,
                materializer=source_of(materializer),
                data_type=f"{type(item).__module__}.{type(item).__qualname__}",
                checksum=checksum,
                size=size,
                metadata=tuple(
                    attempt.masker.mask_metadata(extracted + attempt.context.output_metadata.get(output["name"], []))
                ),
                tags=tuple(
                    dict.fromkeys(
                        attempt.masker.mask(tag)
                        for tag in [*artifact.get("tags", []), *attempt.context.output_tags.get(output["name"], [])]
                    )
                ),
                version=artifact.get("version"),
                kind="model" if artifact.get("is_model_artifact") else "data",
                file_identities=identities or None,
            )
        )
    if attempt.reserved is not None:
        # Reserved at a later output's durable write, the earlier ones too.
        saved = [replace(output, artifact_version_id=attempt.reserved[output.name]) for output in saved]
    return saved


def _extracted_metadata(materializer: Any, item: Any) -> list[dict[str, Any]]:
    """What the materializer says about the value; a bad entry is dropped, not fatal."""
    try:
        return encode(materializer.extract_metadata(item) or {})
    except Exception as exc:
        logger.warning("%s.extract_metadata gave unusable metadata: %s", type(materializer).__name__, exc)
        return []


class _RunCredentials:
    """Makes the attempt's run-scoped API token on first use (most steps never call
    the API, and a token costs two writes) and revokes it when the attempt ends."""

    def __init__(self, step_run_id: int, attempt: int) -> None:
        self.step_run_id, self.attempt, self.key = step_run_id, attempt, None

    def __call__(self) -> tuple[str, str]:
        if self.key is None:
            self.key = run_token_create(step_run_id=self.step_run_id, attempt=self.attempt)
            if self.key is None:
                raise StepContextError(
                    "This run was started without a user, so its steps have no API token; set "
                    "PIPELINES_API_TOKEN on the worker or start runs through the API."
                )
        return settings.PIPELINES["SERVER_URL"], self.key

    def revoke(self) -> None:
        if self.key is not None:
            run_tokens_revoke(step_run_id=self.step_run_id, attempt=self.attempt)


def _context(attempt: _Attempt, key: str) -> StepContext:
    step_run = attempt.step_run
    run = step_run.pipeline_run
    return StepContext(
        pipeline=PipelineInfo(id=run.pipeline.id, name=run.pipeline.name),
        pipeline_run=PipelineRunInfo(id=run.id, name=run.name, status="running", config=run.config),
        step_run=StepRunInfo(id=step_run.id, name=step_run.name, attempt=attempt.number, cache_key=key),
        inputs=_describe_inputs(step_run, attempt.input_versions),
        outputs=attempt.targets,
        client_credentials=attempt.credentials,
        model_version_id=step_run.model_version_id,
        secret_masker=attempt.masker,
    )


def _run(attempt: _Attempt) -> Any:
    step_run = attempt.step_run
    step = _import_step(step_run)
    _check_code(step_run, step)
    values = _load_inputs(attempt.input_versions)
    _prepare_outputs(attempt)
    context = attempt.context = _context(attempt, step_run.cache_key)
    with step_context(context), heartbeating(step_run.id, attempt.number, attempt.log):
        attempt.user_code_started_at = timezone.now()
        try:
            with time_limit(
                step_run.spec.get("timeout"), step_name=step_run.name, on_overrun=lambda m: _stop_overrun(attempt, m)
            ):
                result = step.entrypoint(**values, **step_run.parameters)
        finally:
            attempt.user_code_finished_at = timezone.now()
        saved = _save_outputs(attempt, result)
        run_hook(step_run.spec.get("on_success"), kind="on_success", step_name=step_run.name)
        return saved


def step_run_execute(*, step_run_id: int) -> None:
    """Run a delivered step run to its end, then, while finishing one makes another
    ready, run that one here too instead of a round trip through the broker (as
    Airflow's "mini scheduler" does). Safe to call for a step another delivery owns.
    """
    next_step: NextStep | None = NextStep(step_run_id)
    run: PipelineRun | None = None
    while next_step is not None:
        next_step, run = _execute_one(next_step, run=run)


def _execute_one(step: NextStep, *, run: PipelineRun | None = None) -> tuple[NextStep | None, PipelineRun]:
    """Run one step run; return a step to run next in this process, if any (see
    `NextStep`), and the step's run with its pipeline.

    A step claimed at the end of the one before is of the same run, passed as `run`:
    what is used of it (name, config, pipeline) never changes, so only the step's own
    row is read again, unless its claim handed it back."""
    step_run_id, claimed = step.step_run_id, step.attempt
    if claimed is not None:
        # Claimed with the end of the step before (`step_run_complete(worker=...)`).
        step_run = step.row if step.row is not None else step_run_for_attempt(step_run_id)
        if run is not None and run.id == step_run.pipeline_run_id:
            step_run.pipeline_run = run
        return _execute_claimed(step_run, claimed), step_run.pipeline_run
    step_run = step_run_with_run(step_run_id)
    return _execute_delivered(step_run), step_run.pipeline_run


def _execute_delivered(step_run: StepRun) -> NextStep | None:
    """Run a step run whose broker message was delivered here, if it is still queued."""
    step_run_id = step_run.id
    if step_run.status != StepStatus.QUEUED:
        logger.info("Step run %s is %s; this delivery has nothing to do.", step_run_id, step_run.status)
        return _next_held_back(step_run)
    # Inputs and the cache key are worked out before the claim, so the claim can
    # record the key in the same write. (Cache hits never reach a worker: they are
    # resolved where a step becomes ready; see services/cache_resolution.py.)
    input_versions, key, problem = _inputs_and_cache_key(step_run)
    number = step_run_claim(
        step_run_id=step_run_id,
        worker=worker_name(),
        run_id=step_run.pipeline_run_id,
        seen_attempt=step_run.attempt,
        cache_key=key,
        run_status=step_run.pipeline_run.status,
    )
    if number is None:
        logger.info("Step run %s was claimed by another delivery.", step_run_id)
        return _next_held_back(step_run)
    step_run.attempt, step_run.cache_key, step_run.status = number, key, StepStatus.RUNNING
    attempt = _Attempt(step_run=step_run, number=number, input_versions=input_versions)
    return _run_attempt(attempt, problem)


def _inputs_and_cache_key(step_run: StepRun) -> tuple[dict[str, Any], str, Exception | None]:
    """The step's input versions and its cache key, or the problem that fails the
    attempt once claimed (an input that is not ready, say)."""
    try:
        input_versions = _resolve_inputs(step_run)
        key = cache_key(step_run.spec, {name: version.id for name, version in input_versions.items()})
    except StepExecutionError as exc:
        return {}, "", exc
    return input_versions, key, None


def _execute_claimed(step_run: StepRun, number: int) -> NextStep | None:
    """Run a step this worker claimed when it ended the one before: as `_execute_one`,
    but the cache key, known only now, is recorded with the attempt's end."""
    if step_run.status != StepStatus.RUNNING or step_run.attempt != number:
        logger.info("Step run %s is no longer attempt %s here; nothing to do.", step_run.id, number)
        return None
    input_versions, key, problem = _inputs_and_cache_key(step_run)
    step_run.cache_key = key
    attempt = _Attempt(step_run=step_run, number=number, input_versions=input_versions, cache_key_unrecorded=True)
    return _run_attempt(attempt, problem)


def _run_attempt(attempt: _Attempt, problem: Exception | None) -> NextStep | None:
    attempt.credentials = _RunCredentials(attempt.step_run.id, attempt.number)
    try:
        return _run_and_record(attempt, problem)
    finally:
        attempt.credentials.revoke()


# Raised in the worker's main thread when it is told to shut down; with the solo or
# threads pool that thread may be running a step. They must reach Celery, or the
# worker would not stop; the step is then left to the reaper like a lost worker.
WORKER_EXITS = (WorkerShutdown, WorkerTerminate)


def _run_and_record(attempt: _Attempt, problem: Exception | None) -> NextStep | None:
    step_run, number = attempt.step_run, attempt.number
    with capture_step_output(attempt.masker) as log:
        attempt.log = log
        try:
            if problem is not None:
                raise problem
            outputs = _run(attempt)
        except WORKER_EXITS:
            raise
        except AttemptSuperseded:
            # The reaper gave up on this attempt before its outputs' reservation (made
            # before a durable write, after the step's code ran): the step is its
            # retry's now. As for a refused end: remove what it wrote, record nothing,
            # run no on_failure hook.
            logger.info("Attempt %s of step run %s no longer owns it; its outputs are removed.", number, step_run.id)
            _remove_files(attempt)
            return None
        except BaseException as exc:
            # Anything the step's code raises is the step's error, retried per its
            # policy: SystemExit (sys.exit()), KeyboardInterrupt, GeneratorExit and
            # other BaseExceptions too. Let through, they would end the pool
            # process, and the reaper would run the step again as a crash.
            _run_failure_hook(attempt, exc)
            _record_failure(attempt, exc, log.getvalue())
            return _next_held_back(step_run)
    completion = step_run_complete(
        step_run_id=step_run.id,
        run_id=step_run.pipeline_run_id,
        model_version_id=step_run.model_version_id,
        attempt=number,
        inputs=attempt.input_ids,
        outputs=outputs,
        timings=attempt.timings,
        logs=log.getvalue(),
        keep_next=settings.PIPELINES["RUN_NEXT_STEP_INLINE"],
        worker=worker_name(),
        name=step_run.name,
        queue=step_run.queue,
        cache_key=step_run.cache_key if attempt.cache_key_unrecorded else None,
        step_metadata=attempt.masker.mask_metadata(attempt.context.step_metadata) if attempt.context else None,
    )
    if not completion:
        # A newer attempt owns the step; what this one wrote must not linger.
        _remove_files(attempt)
    return completion.next_step


def _next_held_back(step_run: StepRun) -> NextStep | None:
    """A step of the same run and queue held back from the broker, claimed for this
    worker to run next (a success claims one with its end; see `step_run_complete`).

    Also taken by a delivery that finds its own step claimed already: until the
    publish marks the steps it sent, they look held back, and a worker ending
    another step of the run may claim one. Without this, each such race left one
    step fewer of the run running at a time until the reaper sent the rest."""
    if not settings.PIPELINES["RUN_NEXT_STEP_INLINE"]:
        # Sent instead, for any worker (see `step_run_release_held_back`).
        step_run_release_held_back(run_id=step_run.pipeline_run_id, queue=step_run.queue)
        return None
    return step_run_claim_held_back(run_id=step_run.pipeline_run_id, queue=step_run.queue, worker=worker_name())


def _run_failure_hook(attempt: _Attempt, exc: BaseException) -> None:
    """The step's on_failure hook, in its context and log, when no retry follows."""
    step_run = attempt.step_run
    hook = step_run.spec.get("on_failure")
    try:
        if hook and failure_is_final(step_run.spec, step_run.failure_count, exc):
            with step_context(attempt.context or _context(attempt, step_run.cache_key)):
                run_hook(hook, kind="on_failure", step_name=step_run.name, exception=exc)
    except Exception:  # the failure must be recorded whatever happens here
        logger.exception("Could not run the on_failure hook of step run %s", step_run.id)


def _record_failure(attempt: _Attempt, exc: BaseException, logs: str) -> bool:
    """Record the attempt as failed; False when it no longer owned the step."""
    step_run = attempt.step_run
    mask = attempt.masker.mask
    logger.warning(
        "Step %s of run %s failed: %s", step_run.name, step_run.pipeline_run.name, mask(f"{type(exc).__name__}: {exc}")
    )
    _remove_files(attempt)
    retryable = not isinstance(exc, NonRetryableError) and getattr(exc, "retryable", True)
    return step_run_fail(
        step_run_id=step_run.id,
        attempt=attempt.number,
        error=mask("".join(traceback.format_exception(exc))),
        inputs=attempt.input_ids,
        timings=attempt.timings,
        logs=logs,
        retryable=retryable,
        cache_key=step_run.cache_key if attempt.cache_key_unrecorded else None,
    )


def _stop_overrun(attempt: _Attempt, message: str) -> None:
    """A step went on past its timeout and did not stop when told to (see
    `pipelines.engine.time_limit`). Runs on a timer thread: record the attempt as
    failed now, then end this process if the pool replaces it."""
    try:
        if not _record_failure(attempt, StepTimeoutError(message), attempt.log.getvalue() if attempt.log else ""):
            return  # the attempt had already ended (or was given up on): nothing to stop
        if in_pool_process():
            # The process ends without the claim of a held-back step of the run that
            # the step's end would have made: one is sent for any worker instead.
            step_run_release_held_back(run_id=attempt.step_run.pipeline_run_id, queue=attempt.step_run.queue)
    except Exception:
        # Ended anyway: a stuck process helps nobody, and the reaper recovers the step
        # (and sends the held-back ones).
        logger.exception("Could not record the timeout of step run %s", attempt.step_run.id)
    finally:
        connection.close()  # this thread's own; the thread ends here
    if in_pool_process():
        logger.error("%s; ending pool process %s (the pool starts another).", message, os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        logger.error(
            "%s. Its thread cannot be stopped in this pool, so it runs on; whatever it returns is refused. "
            "Use the prefork pool (the default) to have such a step's process replaced.",
            message,
        )


def _remove_files(attempt: _Attempt) -> None:
    for target in attempt.targets.values():
        try:
            store_for_uri(target.uri).remove(target.uri)
        except OSError as exc:
            # The store is away: a reserved output's files go with its pending version
            # (the reaper's cleanup); an unreserved small output's copy stays behind.
            logger.warning("Could not remove %s: %s", target.uri, exc)
