"""`ExternalArtifact`: a value (or an existing artifact version) given to a step as an
input artifact in a pipeline body, as ZenML's.

`ExternalArtifact(value=...)` is saved as a new artifact version when the pipeline is
compiled for submission (from this process, as `save_artifact` saves: the artifact
store must be writable here); the step then receives it as an input artifact loaded
by its materializer, like another step's output. `ExternalArtifact(id=...)` and
`ExternalArtifact(name=..., version=...)` (older ZenML versions) name an existing
version; so does an `ArtifactVersion` from `Client().get_artifact_version(...)`
passed straight to a step.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from pipelines.sdk.exceptions import PipelineDefinitionError

_NOT_GIVEN = object()


class ExternalArtifact:
    """Exactly one of `value`, `id`, or `name` (with an optional `version`)."""

    def __init__(
        self,
        value: Any = _NOT_GIVEN,
        *,
        id: int | None = None,
        name: str | None = None,
        version: str | int | None = None,
        materializer: type | None = None,
    ) -> None:
        given = [
            what
            for what, present in (
                ("value", value is not _NOT_GIVEN),
                ("id", id is not None),
                ("name", name is not None),
            )
            if present
        ]
        if len(given) != 1:
            raise PipelineDefinitionError(
                "ExternalArtifact takes exactly one of value=..., id=... or name=... (with version=...); "
                f"got {', '.join(given) or 'none'}."
            )
        if version is not None and name is None:
            raise PipelineDefinitionError("ExternalArtifact(version=...) needs name= too.")
        self.value = None if value is _NOT_GIVEN else value
        self._has_value = value is not _NOT_GIVEN
        self.id = id
        self.name = name
        self.version = version
        self.materializer = materializer
        self._uploaded_id: int | None = None

    def __repr__(self) -> str:
        if self._has_value:
            return f"ExternalArtifact(value={type(self.value).__name__})"
        if self.id is not None:
            return f"ExternalArtifact(id={self.id})"
        return f"ExternalArtifact(name={self.name!r}, version={self.version!r})"

    def upload(self) -> int:
        """The id of the artifact version this names, saving the value first (once)."""
        if self._uploaded_id is not None:
            return self._uploaded_id
        from pipelines.sdk.client import Client

        if self._has_value:
            from pipelines.sdk.artifacts_api import save_artifact

            # ZenML names a value's artifact `external_<uuid>`: every upload is its own.
            saved = save_artifact(self.value, name=f"external_{uuid4().hex}", materializer=self.materializer)
            self._uploaded_id = saved.id
        elif self.id is not None:
            self._uploaded_id = Client().get_artifact_version(int(self.id)).id
        else:
            self._uploaded_id = Client().get_artifact_version(self.name, self.version).id
        return self._uploaded_id


def external_input_id(value: Any) -> int | None:
    """The artifact version id a step argument stands for, or None when it is a
    parameter (or a step's output)."""
    from pipelines.sdk.responses import ArtifactVersion

    if isinstance(value, ExternalArtifact):
        return value.upload()
    if isinstance(value, ArtifactVersion):
        return value.id
    return None
