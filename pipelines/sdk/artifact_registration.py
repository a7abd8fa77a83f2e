"""`register_artifact` and `link_artifact_to_model`, as ZenML's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.sdk.current_step import current_step_context
from pipelines.sdk.exceptions import StepContextError

if TYPE_CHECKING:
    from pipelines.sdk.model import Model
    from pipelines.sdk.responses import ArtifactVersion


def register_artifact(
    folder_or_file_uri: str,
    name: str,
    version: str | None = None,
    tags: list[str] | None = None,
    is_model_artifact: bool = False,
    is_deployment_artifact: bool = False,
    artifact_metadata: dict[str, Any] | None = None,
) -> ArtifactVersion:
    """Register a file or folder that is already in the artifact store as a new version
    of artifact `name`, where it lies: nothing is copied, the server checksums it, and
    it loads as a `pathlib.Path` (a copy of the file, or a folder of copies). The uri
    must be inside the configured artifact store (a local store's path, or an
    `s3://bucket/prefix/...` uri under the store's prefix), and its files must not
    change afterwards (a load checks them against the checksum).

    Inside a step whose pipeline (or step) has a model, the version is linked to that
    model version, as a model artifact with `is_model_artifact=True`."""
    from pipelines.sdk.client import Client
    from pipelines.sdk.metadata import encode
    from pipelines.sdk.responses import ArtifactVersion

    client = Client()
    data = client._request(
        "POST",
        "artifact-versions/register/",
        json={"uri": str(folder_or_file_uri), "artifact": name, "version": version, "tags": list(tags or [])},
    )
    registered = ArtifactVersion.from_api(data, client)
    if artifact_metadata:
        client.create_run_metadata(encode(artifact_metadata), artifact_version_id=registered.id)
    link_to_step_model(registered.id, kind=artifact_kind(is_model_artifact, is_deployment_artifact))
    return registered


def link_artifact_to_model(
    artifact_version: ArtifactVersion,
    model: Model | None = None,
    is_model_artifact: bool = False,
    is_deployment_artifact: bool = False,
) -> None:
    """Link an artifact version to a model version: `model`'s (a `Model` handle: its
    version by name, number, stage or the newest), else, inside a step, the step's.
    Linking again changes nothing."""
    kind = artifact_kind(is_model_artifact, is_deployment_artifact)
    if model is None:
        if not link_to_step_model(artifact_version.id, kind=kind):
            raise StepContextError(
                "link_artifact_to_model() without model= works only inside a step of a pipeline with a model; "
                "pass model=Model(name=..., version=...)."
            )
        return
    _link(model.id, artifact_version.id, kind)


def link_to_step_model(artifact_version_id: int, *, kind: str) -> bool:
    """Inside a step with a model: link to its model version (True); else nothing (False)."""
    context = current_step_context()
    if context is None or context.model_version_id is None:
        return False
    _link(context.model_version_id, artifact_version_id, kind)
    return True


def _link(model_version_id: int, artifact_version_id: int, kind: str) -> None:
    from pipelines.sdk.client import Client

    Client()._request(
        "POST",
        f"model-versions/{model_version_id}/artifacts/",
        json={"artifact_version": artifact_version_id, "kind": kind},
    )


def artifact_kind(is_model_artifact: bool, is_deployment_artifact: bool) -> str:
    if is_model_artifact and is_deployment_artifact:
        raise ValueError("An artifact is a model artifact or a deployment artifact, not both.")
    return "model" if is_model_artifact else "deployment" if is_deployment_artifact else "data"
