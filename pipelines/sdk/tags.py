"""`add_tags` / `remove_tags`, as ZenML's, for what can be tagged so far: the outputs
of the running step (`infer_artifact=True`, with `artifact_name` when the step has
several). Runs, artifacts and saved artifact versions have no tag endpoint yet: those
targets are refused with what works instead, never silently ignored.
"""

from __future__ import annotations

from pipelines.sdk.context import StepContext
from pipelines.sdk.current_step import current_step_context
from pipelines.sdk.exceptions import PipelinesError, StepContextError

_WHAT_WORKS = (
    "So far tags go on the running step's outputs (add_tags(tags, infer_artifact=True), with "
    "artifact_name= when the step has several), on outputs when declared "
    "(ArtifactConfig(tags=...)) and on saved values (save_artifact(..., tags=...))."
)


def add_tags(
    tags: str | list[str],
    *,
    run: int | str | None = None,
    artifact: int | str | None = None,
    artifact_version_id: int | None = None,
    artifact_name: str | None = None,
    artifact_version: str | int | None = None,
    infer_artifact: bool | None = None,
) -> None:
    """Tag an output of the running step's artifact version (kept once per tag)."""
    context, output_name = _output_target(
        "add_tags", run, artifact, artifact_version_id, artifact_name, artifact_version, infer_artifact
    )
    context.add_output_tags(_tag_list(tags), output_name=output_name)


def remove_tags(
    tags: str | list[str],
    *,
    run: int | str | None = None,
    artifact: int | str | None = None,
    artifact_version_id: int | None = None,
    artifact_name: str | None = None,
    artifact_version: str | int | None = None,
    infer_artifact: bool | None = None,
) -> None:
    """Take back tags this step added to an output; the output's declared
    `ArtifactConfig(tags=...)` stay, as part of the step's definition."""
    context, output_name = _output_target(
        "remove_tags", run, artifact, artifact_version_id, artifact_name, artifact_version, infer_artifact
    )
    unwanted = set(_tag_list(tags))
    target = context._output(output_name).name
    context.output_tags[target] = [tag for tag in context.output_tags.get(target, []) if tag not in unwanted]


def _tag_list(tags: str | list[str]) -> list[str]:
    # ZenML takes one tag as a plain string; a string is never split into letters.
    return [tags] if isinstance(tags, str) else list(tags)


def _output_target(
    function: str,
    run: int | str | None,
    artifact: int | str | None,
    artifact_version_id: int | None,
    artifact_name: str | None,
    artifact_version: str | int | None,
    infer_artifact: bool | None,
) -> tuple[StepContext, str | None]:
    others = {
        "run": run,
        "artifact": artifact,
        "artifact_version_id": artifact_version_id,
        "artifact_version": artifact_version,
    }
    given = [name for name, value in others.items() if value is not None]
    if given:
        raise PipelinesError(f"{function}({given[0]}=...) is not supported yet. {_WHAT_WORKS}")
    context = current_step_context()
    if context is None:
        raise StepContextError(f"{function} without a target works only inside a step. {_WHAT_WORKS}")
    if not infer_artifact:
        # ZenML tags the run here; runs have no tags yet, and tagging an output
        # instead would put the tag somewhere the caller does not expect.
        raise PipelinesError(
            f"{function} inside a step tags this step's output only with infer_artifact=True "
            f"(tagging the run is not supported yet). {_WHAT_WORKS}"
        )
    return context, artifact_name
