"""`load_artifact`: read a stored artifact by name, inside a step or from a script."""

from __future__ import annotations

from typing import Any


def load_artifact(name_or_id: str | int, version: str | int | None = None) -> Any:
    """The value of an artifact version (the latest when no version is given)."""
    from pipelines.sdk.client import Client

    return Client().get_artifact_version(name_or_id, version).load()


def save_artifact(
    data: Any,
    name: str,
    version: str | None = None,
    tags: list[str] | None = None,
    materializer: type | None = None,
    is_model_artifact: bool = False,
    is_deployment_artifact: bool = False,
) -> Any:
    """Store `data` as a new version of artifact `name`, inside a step or from a script.

    The files are written straight to the artifact store (this process must reach it,
    as workers do); the server then checksums them and makes the version ready.
    Inside a step with a model (the step's or its pipeline's), the version is linked
    to that model version (as ZenML's), as a model or deployment artifact when flagged.
    Returns the ArtifactVersion.
    """
    from pipelines.sdk.artifact_registration import artifact_kind, link_to_step_model
    from pipelines.sdk.client import Client
    from pipelines.sdk.materializers import materializer_registry
    from pipelines.sdk.metadata import encode
    from pipelines.sdk.responses import ArtifactVersion
    from pipelines.sdk.source import source_of
    from pipelines.sdk.visualizations import save_visualizations

    client = Client()
    chosen = materializer or materializer_registry.materializer_for_value(data)
    pending = client._request(
        "POST", "artifact-versions/", json={"artifact": name, "version": version, "tags": list(tags or [])}
    )
    writer = chosen(pending["uri"])
    writer.save(data)
    save_visualizations(store=writer.artifact_store, uri=pending["uri"], materializer=writer, value=data)
    try:
        metadata = encode(writer.extract_metadata(data) or {})
    except Exception:  # metadata is a nicety; the artifact is what matters
        metadata = []
    finished = client._request(
        "POST",
        f"artifact-versions/{pending['id']}/finish/",
        json={
            "materializer": source_of(chosen),
            "data_type": f"{type(data).__module__}.{type(data).__qualname__}",
            "metadata": metadata,
        },
    )
    link_to_step_model(finished["id"], kind=artifact_kind(is_model_artifact, is_deployment_artifact))
    return ArtifactVersion.from_api(finished, client)
