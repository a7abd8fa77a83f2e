"""Step inputs that are existing artifact versions (`ExternalArtifact`, an
`ArtifactVersion` passed in a pipeline body): the spec's `external_inputs`, name -> id.

Checked when the run is created (each must be a ready version the submitter can
see), loaded by the worker like another step's output, and part of the cache key
by id.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from pipelines import access
from pipelines.models import ArtifactVersion, ArtifactVersionStatus
from pipelines.sdk.spec import PipelineSpec, SpecError


def external_inputs_check(spec: PipelineSpec, *, user: AbstractBaseUser | None) -> None:
    """SpecError unless every external input names a ready version `user` may read."""
    wanted = {av for step in spec["steps"] for av in (step.get("external_inputs") or {}).values()}
    if not wanted:
        return
    if user is None:
        return  # the server's own submissions (schedules, triggers) name what they saved
    ready = set(
        access.artifact_versions_visible(user)  # type: ignore[arg-type]
        .filter(id__in=wanted, status=ArtifactVersionStatus.READY)
        .values_list("id", flat=True)
    )
    for step in spec["steps"]:
        for name, av in (step.get("external_inputs") or {}).items():
            if av not in ready:
                raise SpecError(
                    f"Step {step['name']!r}: input {name!r} names artifact version {av}, which does not exist "
                    "or is not ready; pass a saved version (Client().get_artifact_version(...)) or "
                    "ExternalArtifact(value=...)."
                )


def external_input_ids(step_spec: dict) -> dict[str, int]:
    return dict(step_spec.get("external_inputs") or {})


def external_input_versions(step_spec: dict) -> dict[str, ArtifactVersion]:
    """The step's external inputs' versions, ready ones only (a missing one is left out:
    the caller reports the input as not recorded)."""
    ids = external_input_ids(step_spec)
    if not ids:
        return {}
    found = ArtifactVersion.objects.filter(id__in=ids.values(), status=ArtifactVersionStatus.READY).select_related(
        "artifact"
    )
    by_id = {version.id: version for version in found}
    return {name: by_id[av] for name, av in ids.items() if av in by_id}
