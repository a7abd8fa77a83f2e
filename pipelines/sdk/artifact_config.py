"""`ArtifactConfig`: name, version and tags of a step output, in its annotation.

@step
def load() -> Annotated[pd.DataFrame, ArtifactConfig(name="my_dataset", version="v1", tags=["raw"])]:
    ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipelines.sdk.exceptions import PipelineDefinitionError

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class ArtifactConfig:
    name: str | None = None
    # A fixed version name (versions are immutable: a second run must use another).
    # None numbers versions 1, 2, ... per artifact.
    version: str | int | None = None
    tags: list[str] = field(default_factory=list)
    is_model_artifact: bool = False

    def __post_init__(self) -> None:
        if self.version is not None and not _VERSION.match(str(self.version)):
            raise PipelineDefinitionError(
                f"Artifact version {self.version!r} must be 1-100 letters, digits, '.', '_' or '-'."
            )
        if isinstance(self.tags, str) or not all(isinstance(t, str) and t.strip() for t in self.tags):
            raise PipelineDefinitionError(f"ArtifactConfig tags must be a list of strings, got {self.tags!r}.")
        if self.version is not None and str(self.version).isdigit():
            raise PipelineDefinitionError(
                f"Artifact version {self.version!r} is a number; numbers are given automatically. Use a "
                "name such as 'v1', or leave version out."
            )

    def to_spec(self) -> dict[str, object]:
        return {
            "version": None if self.version is None else str(self.version),
            "tags": list(self.tags),
            "is_model_artifact": self.is_model_artifact,
        }
