"""`Model`: attach a pipeline's runs to a model in the model control plane, and a
handle on an existing model version outside runs (ZenML's `Model(name, version=...)`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.sdk.exceptions import PipelineDefinitionError
from pipelines.sdk.naming import name_problem, version_problem

if TYPE_CHECKING:
    from pipelines.sdk.responses import ArtifactVersion, MetadataEntry, ModelVersion

# What `version=` may name besides a version: a stage, or the newest version.
STAGE_NAMES = ("latest", "staging", "production", "archived", "none")
CARD_FIELDS = ("license", "audience", "use_cases", "limitations", "trade_offs", "ethics")


@dataclass(frozen=True)
class Model:
    """Each run of a pipeline with `@pipeline(model=Model(name="churn"))` works on a
    version of that model: a new one numbered 1, 2, ... when `version` is None, else
    the named (or numbered) version, created if it does not exist yet.

    Used as a handle (`Model(name="churn", version=ModelStages.PRODUCTION).number`,
    `.load_artifact("model")`, `.set_stage(...)`) it names an existing version by
    name, number, stage or `"latest"` (the newest one also when `version` is None),
    read through the Client on first use."""

    name: str
    version: str | int | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    # ZenML's model card, kept on the model when a run first creates it.
    license: str | None = None
    audience: str | None = None
    use_cases: str | None = None
    limitations: str | None = None
    trade_offs: str | None = None
    ethics: str | None = None
    # The version this handle resolved to; not part of the model's identity.
    _resolved: Any = field(default=None, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise PipelineDefinitionError("A Model needs a name.")
        # The server's rules, checked when the pipeline is defined rather than when it runs.
        if problem := name_problem(self.name, what="A model name"):
            raise PipelineDefinitionError(problem)
        if (
            self.version is not None
            and not self._names_a_stage()
            and (problem := version_problem(str(self.version), what="A model version"))
        ):
            raise PipelineDefinitionError(problem)

    def _names_a_stage(self) -> bool:
        return self.version is not None and str(self.version) in STAGE_NAMES

    def to_spec(self) -> dict[str, Any]:
        # A stage (or "latest") names an existing version: the server resolves it when
        # the run is created, and refuses the run when no version holds the stage.
        return {
            "name": self.name,
            "version": None if self.version is None else str(self.version),
            "description": self.description,
            "tags": list(self.tags),
            **{key: getattr(self, key) for key in CARD_FIELDS if getattr(self, key) is not None},
        }

    # --- the handle: an existing version, read through the Client -------------------
    def _model_version(self, *, refresh: bool = False) -> ModelVersion:
        if self._resolved is None or refresh:
            from pipelines.sdk.client import Client

            client = self._resolved._client if self._resolved is not None else None
            client = client or Client()
            if self._resolved is not None:
                found = client.get_model_version_by_id(self._resolved.id)
            else:
                wanted = "latest" if self.version is None else str(self.version)
                found = client.get_model_version(self.name, wanted)
            object.__setattr__(self, "_resolved", found)
        return self._resolved

    @property
    def id(self) -> int:
        """The resolved version's id."""
        return self._model_version().id

    @property
    def number(self) -> int:
        return self._model_version().number

    @property
    def stage(self) -> str:
        return self._model_version(refresh=True).stage

    @property
    def run_metadata(self) -> dict[str, MetadataEntry]:
        return self._model_version(refresh=True).run_metadata

    def log_metadata(self, metadata: dict[str, Any]) -> None:
        self._model_version().log_metadata(metadata)

    def set_stage(self, stage: str, force: bool = False) -> None:
        """Promote the version to `stage` (a `ModelStages` or its value); a stage held
        by another version needs `force=True`, which archives that version."""
        self._model_version().set_stage(str(stage), force=force)

    def get_artifact(self, name: str, version: str | int | None = None) -> ArtifactVersion | None:
        """A linked artifact version by name (the newest when no version is given)."""
        return self._model_version(refresh=True).get_artifact(name, version)

    def get_model_artifact(self, name: str, version: str | int | None = None) -> ArtifactVersion | None:
        return self._model_version(refresh=True).get_model_artifact(name, version)

    def get_data_artifact(self, name: str, version: str | int | None = None) -> ArtifactVersion | None:
        return self._model_version(refresh=True).get_data_artifact(name, version)

    def load_artifact(self, name: str, version: str | int | None = None) -> Any:
        """The value of a linked artifact version; KeyError when none is linked."""
        found = self.get_artifact(name, version)
        if found is None:
            raise KeyError(f"Model {self.name!r} version {self._model_version().name!r} has no artifact {name!r}.")
        return found.load()
