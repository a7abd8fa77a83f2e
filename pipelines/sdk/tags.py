"""`add_tags` / `remove_tags`, as ZenML's, on pipelines, runs, artifacts, artifact
versions, models and model versions.

- inside a step with no target: the running step's run (as ZenML);
- `infer_artifact=True` inside a step (`artifact_name=` one of several outputs): the
  step's output, recorded with the step's outcome;
- `pipeline=` (name or id), `run=` (id, name or name prefix), `artifact=` (name or id), `artifact_version_id=`,
  `artifact_name=` with `artifact_version=` (else the newest version), `model=` (name
  or id), `model=` with `model_version=` (name, number, stage or `latest`).

Each call is one request that adds or removes atomically on the server, so two
concurrent calls both stick. Who may tag what is in the README's Permissions table
(a step's run token: its own run and pipeline, what its run produced, its model version).
"""

from __future__ import annotations

from typing import Any

from pipelines.sdk.context import StepContext
from pipelines.sdk.current_step import current_step_context
from pipelines.sdk.exceptions import StepContextError

_TARGETS = (
    "pipeline=, run=, artifact=, artifact_version_id=, artifact_name= (with artifact_version=), model= (with "
    "model_version=), or, inside a step, infer_artifact=True for its output or nothing for its run"
)


def add_tags(
    tags: str | list[str],
    *,
    pipeline: int | str | None = None,
    run: int | str | None = None,
    artifact: int | str | None = None,
    artifact_version_id: int | None = None,
    artifact_name: str | None = None,
    artifact_version: str | int | None = None,
    infer_artifact: bool | None = None,
    model: int | str | None = None,
    model_version: int | str | None = None,
) -> None:
    """Tag a pipeline, a run, an artifact, an artifact version, a model or a model version
    (each tag kept once)."""
    _change(
        "add",
        _tag_list(tags),
        pipeline=pipeline,
        run=run,
        artifact=artifact,
        artifact_version_id=artifact_version_id,
        artifact_name=artifact_name,
        artifact_version=artifact_version,
        infer_artifact=infer_artifact,
        model=model,
        model_version=model_version,
    )


def remove_tags(
    tags: str | list[str],
    *,
    pipeline: int | str | None = None,
    run: int | str | None = None,
    artifact: int | str | None = None,
    artifact_version_id: int | None = None,
    artifact_name: str | None = None,
    artifact_version: str | int | None = None,
    infer_artifact: bool | None = None,
    model: int | str | None = None,
    model_version: int | str | None = None,
) -> None:
    """Take tags off a target (the same targets as `add_tags`). On the running step's
    output it takes back what the step added; declared `ArtifactConfig(tags=...)` stay,
    as part of the step's definition."""
    _change(
        "remove",
        _tag_list(tags),
        pipeline=pipeline,
        run=run,
        artifact=artifact,
        artifact_version_id=artifact_version_id,
        artifact_name=artifact_name,
        artifact_version=artifact_version,
        infer_artifact=infer_artifact,
        model=model,
        model_version=model_version,
    )


def _tag_list(tags: str | list[str]) -> list[str]:
    # ZenML takes one tag as a plain string; a string is never split into letters.
    found = [tags] if isinstance(tags, str) else list(tags)
    bad = [tag for tag in found if not isinstance(tag, str) or not tag.strip()]
    if bad:
        raise ValueError(f"Tags are non-empty strings; got {bad[0]!r}.")
    return found


def _change(
    operation: str,
    tags: list[str],
    *,
    pipeline: int | str | None,
    run: int | str | None,
    artifact: int | str | None,
    artifact_version_id: int | None,
    artifact_name: str | None,
    artifact_version: str | int | None,
    infer_artifact: bool | None,
    model: int | str | None,
    model_version: int | str | None,
) -> None:
    function = f"{operation}_tags"
    groups = {
        "pipeline": pipeline is not None,
        "run": run is not None,
        "artifact": artifact is not None,
        "artifact version": artifact_version_id is not None or artifact_version is not None,
        "model": model is not None or model_version is not None,
    }
    chosen = [name for name, present in groups.items() if present]
    if len(chosen) > 1:
        raise ValueError(f"{function}() takes one target; got {' and '.join(chosen)}. Targets: {_TARGETS}.")
    context = current_step_context()
    if infer_artifact or (artifact_name is not None and not chosen and context is not None):
        _change_output(function, operation, tags, context, artifact_name)
        return
    if artifact_version is not None and artifact_name is None:
        raise ValueError(f"{function}(artifact_version=...) needs artifact_name= too.")
    if model_version is not None and model is None:
        raise ValueError(f"{function}(model_version=...) needs model= (the model's name or id) too.")
    if not chosen and artifact_name is None and context is None:
        raise StepContextError(f"{function}() without a target works only inside a step. Targets: {_TARGETS}.")
    from pipelines.sdk.client import Client

    client = Client()
    if pipeline is not None:
        path = f"pipelines/{client.get_pipeline(pipeline).id}"
    elif run is not None:
        path = f"runs/{client.get_pipeline_run(run).id}"
    elif artifact is not None:
        path = f"artifacts/{client.get_artifact(artifact).id}"
    elif artifact_version_id is not None:
        path = f"artifact-versions/{int(artifact_version_id)}"
    elif artifact_name is not None:
        path = f"artifact-versions/{client.get_artifact_version(artifact_name, artifact_version).id}"
    elif model is not None and model_version is not None:
        path = f"model-versions/{client.get_model_version(model, model_version).id}"
    elif model is not None:
        path = f"models/{client.get_model(model).id}"
    else:
        # ZenML: inside a step, no target tags the run.
        assert context is not None
        path = f"runs/{context.pipeline_run.id}"
    _send(client, path, operation, tags)


def _send(client: Any, path: str, operation: str, tags: list[str]) -> None:
    client._request("POST", f"{path}/tags/", json={operation: tags})


def _change_output(
    function: str, operation: str, tags: list[str], context: StepContext | None, artifact_name: str | None
) -> None:
    if context is None:
        raise StepContextError(
            f"{function}(infer_artifact=True) works only inside a step: it tags the step's output. "
            f"Elsewhere name a target: {_TARGETS}."
        )
    if operation == "add":
        context.add_output_tags(tags, output_name=artifact_name)
        return
    unwanted = set(tags)
    target = context._output(artifact_name).name
    context.output_tags[target] = [tag for tag in context.output_tags.get(target, []) if tag not in unwanted]
