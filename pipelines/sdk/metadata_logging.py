"""`log_metadata` and the older helpers, inside a step or from any script.

Inside a step, metadata without an explicit target goes to the running step (or,
with `infer_artifact=True` / an output's name, to that output) and is recorded with
the step's outcome. With explicit targets, or outside a step, it is sent to the
server at once.
"""

from __future__ import annotations

from typing import Any

from pipelines.sdk.context import StepContext
from pipelines.sdk.current_step import current_step_context
from pipelines.sdk.exceptions import ServerError, StepContextError
from pipelines.sdk.metadata import encode

# A step's API token writes only to its own run (pipelines.access.access_target_for_token).
_WHERE_A_STEP_MAY_LOG = (
    "Inside a step, metadata goes to an output of this step (artifact_name= one of its "
    "outputs, or infer_artifact=True), to an artifact version this run produced "
    "(artifact_name= and artifact_version=), or to this run and its steps. Other artifacts "
    "take metadata from outside the run: log_metadata(..., artifact_name=, artifact_version=) "
    "in a script or notebook with your own API token."
)


def _in_step() -> StepContext | None:
    return current_step_context()


def log_metadata(
    metadata: dict[str, Any],
    *,
    step_name: str | None = None,
    run_id_name_or_prefix: int | str | None = None,
    step_id: int | None = None,
    artifact_version_id: int | None = None,
    artifact_name: str | None = None,
    artifact_version: str | int | None = None,
    infer_artifact: bool = False,
    model_version_id: int | None = None,
    model_name: str | None = None,
    model_version: str | int | None = None,
    infer_model: bool = False,
) -> None:
    """Log metadata to a step run, a pipeline run, an artifact version or a model version.

    - inside a step with no target: the running step;
    - `infer_artifact=True` (or `artifact_name` naming an output) inside a step: that
      output's artifact version;
    - `artifact_version_id`, or `artifact_name` (+ `artifact_version`, else latest);
    - `step_id`, or `step_name` with `run_id_name_or_prefix`;
    - `run_id_name_or_prefix` alone: the pipeline run;
    - `infer_model=True` inside a step: the step's model version (its own model's,
      else its pipeline's); `model_version_id`; or `model_name` with `model_version`
      (a name, number, stage or `latest`, the default).
    """
    entries = encode(metadata)
    context = _in_step()
    if infer_model or model_version_id is not None or model_name is not None or model_version is not None:
        _log_model_metadata(
            entries,
            context,
            model_version_id=model_version_id,
            model_name=model_name,
            model_version=model_version,
            infer_model=infer_model,
        )
        return
    explicit = any(
        value is not None for value in (step_id, artifact_version_id, artifact_version, run_id_name_or_prefix)
    )
    if context is not None and not explicit:
        if infer_artifact or artifact_name is not None:
            if artifact_name is not None and artifact_name not in context.outputs:
                raise StepContextError(
                    f"Step {context.step_name!r} has no output named {artifact_name!r} (its outputs: "
                    f"{', '.join(context.outputs) or 'none'}). {_WHERE_A_STEP_MAY_LOG}"
                )
            context.add_output_metadata(metadata, output_name=artifact_name)
            return
        if step_name is None or step_name == context.step_name:
            context.step_metadata.extend(entries)
            return
        run_id_name_or_prefix = context.pipeline_run.id
    try:
        _send(
            entries,
            step_name=step_name,
            run=run_id_name_or_prefix,
            step_id=step_id,
            artifact_version_id=artifact_version_id,
            artifact_name=artifact_name,
            artifact_version=artifact_version,
        )
    except ServerError as exc:
        if context is None or exc.status_code != 403:
            raise
        # The server's refusal is right but says nothing of what would work instead.
        raise ServerError(f"{exc} {_WHERE_A_STEP_MAY_LOG}", status_code=403) from exc


def _log_model_metadata(
    entries: list[dict[str, Any]],
    context: StepContext | None,
    *,
    model_version_id: int | None,
    model_name: str | None,
    model_version: str | int | None,
    infer_model: bool,
) -> None:
    from pipelines.sdk.client import Client

    given = [
        name
        for name, present in (
            ("infer_model=True", infer_model),
            ("model_version_id", model_version_id is not None),
            ("model_name", model_name is not None),
        )
        if present
    ]
    if len(given) > 1:
        raise ValueError(f"log_metadata() takes one model target; got {' and '.join(given)}.")
    if model_version is not None and model_name is None:
        raise ValueError("log_metadata(model_version=...) needs model_name= too (or model_version_id=).")
    if infer_model:
        if context is None:
            raise StepContextError(
                "log_metadata(infer_model=True) works only inside a step of a pipeline with a model; "
                "elsewhere pass model_name= and model_version=, or model_version_id=."
            )
        target_id = context.model_version.id
    elif model_version_id is not None:
        target_id = int(model_version_id)
    else:
        target_id = Client().get_model_version(model_name, "latest" if model_version is None else model_version).id
    Client().create_run_metadata(entries, model_version_id=target_id)


def _send(
    entries: list[dict[str, Any]],
    *,
    step_name: str | None,
    run: int | str | None,
    step_id: int | None,
    artifact_version_id: int | None,
    artifact_name: str | None,
    artifact_version: str | int | None,
) -> None:
    from pipelines.sdk.client import Client

    client = Client()
    if artifact_version_id is not None or artifact_name is not None:
        target_id = artifact_version_id or client.get_artifact_version(artifact_name, artifact_version).id
        client.create_run_metadata(entries, artifact_version_id=target_id)
    elif step_id is not None:
        client.create_run_metadata(entries, step_run_id=step_id)
    elif run is not None and step_name is not None:
        found = client.get_pipeline_run(run)
        if step_name not in found.steps:
            raise KeyError(f"Run {found.name} has no step {step_name!r}; its steps: {', '.join(found.steps)}.")
        client.create_run_metadata(entries, step_run_id=found.steps[step_name].id)
    elif run is not None:
        client.create_run_metadata(entries, pipeline_run_id=client.get_pipeline_run(run).id)
    else:
        raise ValueError(
            "log_metadata() outside a step needs a target: artifact_name (and artifact_version), "
            "artifact_version_id, step_id, step_name with run_id_name_or_prefix, or run_id_name_or_prefix."
        )


def log_step_metadata(metadata: dict[str, Any], step_name: str | None = None, run_id: int | str | None = None) -> None:
    """Older form: metadata for a step run (the running step when called in one)."""
    log_metadata(metadata, step_name=step_name, run_id_name_or_prefix=run_id)


def log_artifact_metadata(
    metadata: dict[str, Any], artifact_name: str | None = None, artifact_version: str | int | None = None
) -> None:
    """Older form: metadata for an artifact version (an output of the running step
    when called in one without `artifact_version`)."""
    if _in_step() is not None and artifact_version is None:
        log_metadata(metadata, artifact_name=artifact_name, infer_artifact=True)
    elif artifact_name is None:
        raise ValueError("log_artifact_metadata() outside a step needs artifact_name.")
    else:
        log_metadata(metadata, artifact_name=artifact_name, artifact_version=artifact_version)


def log_model_metadata(
    metadata: dict[str, Any], model_name: str | None = None, model_version: str | int | None = None
) -> None:
    """Metadata for a model version: the run's own one when called in a step without
    a name, else `model_name` at `model_version` (a name, number, stage or `latest`)."""
    context = _in_step()
    if model_name is None:
        if context is None:
            raise ValueError("log_model_metadata() outside a step needs model_name.")
        context.model_version.log_metadata(metadata)
        return
    from pipelines.sdk.client import Client

    Client().get_model_version(model_name, model_version or "latest").log_metadata(metadata)
