"""`ArtifactConfig`: name, version and tags of a step output, in its annotation.

@step
def load() -> Annotated[pd.DataFrame, ArtifactConfig(name="my_dataset", version="v1", tags=["raw"])]:
    ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.naming import artifact_version_problem, name_problem


@dataclass(frozen=True)
class ArtifactConfig:
    name: str | None = None
    # A fixed version name (versions are immutable: a second run must use another).
    # None numbers versions 1, 2, ... per artifact.
    version: str | int | None = None
    tags: list[str] = field(default_factory=list)
    is_model_artifact: bool = False

    def __post_init__(self) -> None:
        # The server's rules, checked when the step is defined rather than when it runs.
        if self.name is not None and (problem := name_problem(self.name, what="Artifact name")):
            raise PipelineDefinitionError(problem)
        if self.version is not None:
            # An int version is its digits, which the rule then refuses as a number.
            version = str(self.version) if isinstance(self.version, int) else self.version
            if problem := artifact_version_problem(version):
                raise PipelineDefinitionError(problem)
        if isinstance(self.tags, str) or not all(isinstance(t, str) and t.strip() for t in self.tags):
            raise PipelineDefinitionError(f"ArtifactConfig tags must be a list of strings, got {self.tags!r}.")

    def to_spec(self) -> dict[str, object]:
        return {
            "version": None if self.version is None else str(self.version),
            "tags": list(self.tags),
            "is_model_artifact": self.is_model_artifact,
        }
