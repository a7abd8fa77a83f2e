"""The step context: what a running step knows about itself.

Which context is current lives in `pipelines.sdk.current_step` (a ContextVar);
`get_step_context` and `step_context` are re-exported here for the step author.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.sdk.current_step import get_step_context, step_context
from pipelines.sdk.exceptions import StepContextError
from pipelines.sdk.masking import SecretMasker
from pipelines.sdk.run_configuration import RunConfiguration

if TYPE_CHECKING:
    from pipelines.sdk.materializers.base import BaseMaterializer

__all__ = [
    "InputArtifact",
    "OutputTarget",
    "PipelineInfo",
    "PipelineRunInfo",
    "StepContext",
    "StepRunInfo",
    "get_step_context",
    "step_context",
]


@dataclass(frozen=True)
class PipelineInfo:
    id: int
    name: str


@dataclass(frozen=True)
class PipelineRunInfo:
    id: int
    name: str
    status: str
    # As ZenML's: `config.extra`, `config.enable_cache`; still a dict (`config["extra"]`).
    config: RunConfiguration

    def __post_init__(self) -> None:
        if not isinstance(self.config, RunConfiguration):
            object.__setattr__(self, "config", RunConfiguration(self.config or {}))


@dataclass(frozen=True)
class StepRunInfo:
    id: int
    name: str
    attempt: int
    cache_key: str


@dataclass(frozen=True)
class InputArtifact:
    """An input of the running step: where it came from and where it is stored."""

    name: str
    artifact_name: str
    version: str
    uri: str
    materializer: str
    producer_step: str


@dataclass(frozen=True)
class OutputTarget:
    """Where one output of the running step will be saved, and how."""

    name: str
    uri: str
    materializer: type | None


@dataclass
class StepContext:
    pipeline: PipelineInfo
    pipeline_run: PipelineRunInfo
    step_run: StepRunInfo
    inputs: dict[str, InputArtifact]
    outputs: dict[str, OutputTarget]
    extra: dict[str, Any] = field(default_factory=dict)
    # What the step logged; the worker records it with the step's outcome, so a
    # superseded attempt's metadata is dropped with the rest of its writes.
    step_metadata: list[dict[str, Any]] = field(default_factory=list)
    output_metadata: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    output_tags: dict[str, list[str]] = field(default_factory=dict)
    # Gives (server URL, run-scoped token) for Client() inside the step; the worker
    # makes the token on first use and revokes it when the attempt ends.
    client_credentials: Callable[[], tuple[str, str]] | None = field(default=None, repr=False)
    # The model version the run works on (pipeline `model=`), if any.
    model_version_id: int | None = None
    _model_version: Any = field(default=None, repr=False)
    # The values of the secrets this attempt read (Client().get_secret): the worker
    # masks them in the step's log, error and metadata.
    secret_masker: SecretMasker = field(default_factory=SecretMasker, repr=False)

    @property
    def model_version(self) -> Any:
        """The run's model version (`.name`, `.number`, `.stage`, `.run_metadata`,
        `.get_artifact(...)`, `.log_metadata(...)`), fetched on first use."""
        if self.model_version_id is None:
            raise StepContextError(
                f"Step {self.step_name!r} runs in a pipeline without a model; give the pipeline "
                "@pipeline(model=Model(name=...))."
            )
        if self._model_version is None:
            from pipelines.sdk.client import Client

            self._model_version = Client().get_model_version_by_id(self.model_version_id)
        return self._model_version

    @property
    def model(self) -> Any:
        """The run's model as a `Model` handle (ZenML's): `.name` is the model's name,
        `.version` the version's name, `.number`, `.stage`, `.log_metadata(...)`, ..."""
        from pipelines.sdk.model import Model

        version = self.model_version
        return Model(name=version.model_name, version=version.name, _resolved=version)

    @property
    def step_name(self) -> str:
        return self.step_run.name

    def _output(self, output_name: str | None) -> OutputTarget:
        names = ", ".join(self.outputs) or "none"
        if output_name is None:
            if len(self.outputs) == 1:
                return next(iter(self.outputs.values()))
            if not self.outputs:
                raise StepContextError(f"Step {self.step_name!r} declares no outputs.")
            raise StepContextError(
                f"Step {self.step_name!r} has several outputs ({names}); pass output_name=to say which one."
            )
        try:
            return self.outputs[output_name]
        except KeyError:
            raise StepContextError(
                f"Step {self.step_name!r} has no output named {output_name!r}; its outputs are: {names}."
            ) from None

    def get_output_artifact_uri(self, output_name: str | None = None) -> str:
        """The folder the output will be saved to (exactly where it is then saved)."""
        return self._output(output_name).uri

    def add_output_metadata(self, metadata: dict[str, Any], output_name: str | None = None) -> None:
        """Attach metadata to an output's artifact version (saved with the output)."""
        from pipelines.sdk.metadata import encode

        target = self._output(output_name).name
        self.output_metadata.setdefault(target, []).extend(encode(metadata))

    def add_output_tags(self, tags: list[str], output_name: str | None = None) -> None:
        """Tag an output's artifact version."""
        if isinstance(tags, str) or not all(isinstance(tag, str) and tag.strip() for tag in tags):
            raise StepContextError(f"Tags must be a list of non-empty strings, got {tags!r}.")
        target = self._output(output_name).name
        existing = self.output_tags.setdefault(target, [])
        existing.extend(tag for tag in tags if tag not in existing)

    def get_output_materializer(
        self,
        output_name: str | None = None,
        custom_materializer_class: type[BaseMaterializer] | None = None,
        data_type: Any = None,
    ) -> BaseMaterializer:
        """A materializer instance for the output's folder, as ZenML's.

        `custom_materializer_class` wins; else the output's own materializer (its
        annotation's or `output_materializers=`); else the one registered for
        `data_type`. An output without annotation is saved by the type of the value
        the step returns, which is not known yet: without `data_type` it gets the
        default (pickle) materializer, as ZenML's does for `Any`.
        """
        from pipelines.sdk.materializers import PickleMaterializer, materializer_registry

        target = self._output(output_name)
        materializer_class = custom_materializer_class or target.materializer
        if materializer_class is None:
            # lookup, not materializer_for: asking is not saving, so no pickle warning.
            found = None if data_type is None else materializer_registry.lookup(data_type)
            materializer_class = found or PickleMaterializer
        return materializer_class(target.uri)
