"""`Model`: attach a pipeline's runs to a model in the model control plane."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.naming import name_problem, version_problem


@dataclass(frozen=True)
class Model:
    """Each run of a pipeline with `@pipeline(model=Model(name="churn"))` works on a
    version of that model: a new one numbered 1, 2, ... when `version` is None, else
    the named (or numbered) version, created if it does not exist yet."""

    name: str
    version: str | int | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise PipelineDefinitionError("A Model needs a name.")
        # The server's rules, checked when the pipeline is defined rather than when it runs.
        if problem := name_problem(self.name, what="A model name"):
            raise PipelineDefinitionError(problem)
        if self.version is not None and (problem := version_problem(str(self.version), what="A model version")):
            raise PipelineDefinitionError(problem)
        if self.version is not None and str(self.version) in ("latest", "staging", "production", "archived", "none"):
            raise PipelineDefinitionError(
                f"{self.version!r} is a stage, not a version; runs make or reuse a concrete version."
            )

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": None if self.version is None else str(self.version),
            "description": self.description,
            "tags": list(self.tags),
        }
